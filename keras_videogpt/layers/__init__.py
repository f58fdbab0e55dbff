"""The layers the two models are built from, one per file, each named after its class."""

from keras_videogpt.layers.conditional_layer_norm import ConditionalLayerNorm
from keras_videogpt.layers.conv import SamePadConv3D, SamePadConv3DTranspose
from keras_videogpt.layers.grid_attention import GridAttention
from keras_videogpt.layers.position import BroadcastPositionEmbedding, RightShift
from keras_videogpt.layers.two_pass_batch_norm import TwoPassBatchNorm

__all__ = ["BroadcastPositionEmbedding", "ConditionalLayerNorm", "GridAttention", "RightShift",
           "SamePadConv3D", "SamePadConv3DTranspose", "TwoPassBatchNorm"]
