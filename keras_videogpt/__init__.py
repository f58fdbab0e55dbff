"""keras-videogpt: VideoGPT (Yan et al., 2021) in Keras 3 on TensorFlow."""

__version__ = "0.1.0"

from keras_videogpt import convert, presets, pretrained
from keras_videogpt.vqvae.model import VQVAE
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.prior.masked import MaskedVideoPrior
from keras_videogpt.sampling import Sampler, sample
from keras_videogpt.long_video import sample_long
from keras_videogpt.masked_sampling import MaskedSampler
