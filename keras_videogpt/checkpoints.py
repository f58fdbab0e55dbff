"""Loading saved models with errors that say what is wrong."""

import os
import shutil
import tempfile
import zipfile

import h5py
import keras

from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.vqvae.model import VQVAE

# Weight groups whose names changed with a class rename. Keras files name a model's layers
# that it also lists in `model.layers` by their class (snake case), so renaming
# `LayerNorm` to `ConditionalLayerNorm` moved the prior's final norm.
_RENAMED_GROUPS = {"layers/layer_norm": "layers/conditional_layer_norm"}


def _migrated_copy(path):
    """A temporary copy of the `.keras` file at `path` with renamed weight groups, or None
    when it has none to rename."""
    with zipfile.ZipFile(path) as archive:
        if "model.weights.h5" not in archive.namelist():
            return None
        folder = tempfile.mkdtemp(prefix="keras_videogpt_migrate_")
        archive.extractall(folder)
    weights = os.path.join(folder, "model.weights.h5")
    with h5py.File(weights, "r+") as f:
        moves = [(old, new) for old, new in _RENAMED_GROUPS.items() if old in f and new not in f]
        for old, new in moves:
            f.move(old, new)
    if not moves:
        shutil.rmtree(folder)
        return None
    copy = os.path.join(folder, "migrated.keras")
    with zipfile.ZipFile(copy, "w") as out:
        for name in ("metadata.json", "config.json", "model.weights.h5"):
            if os.path.exists(os.path.join(folder, name)):
                out.write(os.path.join(folder, name), name)
    return copy


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
        migrated = _migrated_copy(path)  # a file saved before a class rename
        try:
            model = keras.models.load_model(migrated or path, compile=False)
        finally:
            if migrated:
                shutil.rmtree(os.path.dirname(migrated), ignore_errors=True)
    except Exception as e:  # unknown class, version mismatch, a damaged member...
        raise ValueError(f"'{path}' could not be loaded as a Keras model: "
                         f"{type(e).__name__}: {e}") from e
    if not isinstance(model, expected):
        raise ValueError(f"'{path}' holds a {type(model).__name__}, not a {expected.__name__}.")
    return model


def load_vqvae(path):
    """A `VQVAE` from a `.keras` file."""
    return load(path, VQVAE)


def load_prior(path, vqvae=None):
    """A `VideoGPT` from a `.keras` file, checked against `vqvae`'s latent grid if given."""
    prior = load(path, VideoGPT)
    if vqvae is not None and (tuple(vqvae.latent_shape) != prior.latent_shape
                              or vqvae.n_codes != prior.n_codes):
        raise ValueError(f"The prior in '{path}' models a {prior.latent_shape} grid of "
                         f"{prior.n_codes} codes; the VQ-VAE gives {vqvae.latent_shape} x "
                         f"{vqvae.n_codes}. They were not trained together.")
    return prior
