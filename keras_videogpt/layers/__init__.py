from keras_videogpt.layers.attention import MultiHeadAttention
from keras_videogpt.layers.conv import SamePadConv3D, SamePadConv3DTranspose
from keras_videogpt.layers.norm import LayerNorm
from keras_videogpt.layers.position import BroadcastPositionEmbedding, RightShift
