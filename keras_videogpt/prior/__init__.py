from keras_videogpt.prior.block import TransformerBlock
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.prior.resnet import ResNet3D
