from keras_videogpt.prior.block import TransformerBlock
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.prior.resnet import ResNet3D
from keras_videogpt.prior.warm_start import warm_start
