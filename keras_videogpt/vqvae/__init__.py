from keras_videogpt.vqvae.blocks import AttentionResidualBlock, AxialBlock, Decoder, Encoder
from keras_videogpt.vqvae.model import VQVAE
from keras_videogpt.vqvae.quantizer import VectorQuantizer
