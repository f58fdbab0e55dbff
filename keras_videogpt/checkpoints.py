"""Loading saved models with errors that say what is wrong."""

import os
import zipfile

import keras


def load(path, expected):
    """Loads a `.keras` file and checks it holds an `expected` model (a class)."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No {expected.__name__} checkpoint at '{path}'.")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"'{path}' is damaged or not a .keras file (a .keras file is a zip "
                         "archive; this one is truncated or of another kind). Save the model "
                         "again, or restore the file.")
    try:
        model = keras.models.load_model(path, compile=False)
    except Exception as e:  # unknown class, version mismatch, a damaged member...
        raise ValueError(f"'{path}' could not be loaded as a Keras model: "
                         f"{type(e).__name__}: {e}") from e
    if not isinstance(model, expected):
        raise ValueError(f"'{path}' holds a {type(model).__name__}, not a {expected.__name__}.")
    return model


def load_vqvae(path):
    """A `VQVAE` from a `.keras` file."""
    from keras_videogpt.vqvae.model import VQVAE

    return load(path, VQVAE)


def load_prior(path, vqvae=None):
    """A `VideoGPT` from a `.keras` file, checked against `vqvae`'s latent grid if given."""
    from keras_videogpt.prior.model import VideoGPT

    prior = load(path, VideoGPT)
    if vqvae is not None and (tuple(vqvae.latent_shape) != prior.latent_shape
                              or vqvae.n_codes != prior.n_codes):
        raise ValueError(f"The prior in '{path}' models a {prior.latent_shape} grid of "
                         f"{prior.n_codes} codes; the VQ-VAE gives {vqvae.latent_shape} x "
                         f"{vqvae.n_codes}. They were not trained together.")
    return prior
