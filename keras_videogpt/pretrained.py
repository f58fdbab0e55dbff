"""Weights files: the small ones that ship with the package, and loading weights into presets.

A weights file here is an `.npz` archive: one array per variable of the
model, in the model's variable order, stored as float16 unless a value does
not fit (then float32), plus a JSON header (`__meta__`) with the model's
class, its config and each variable's path and shape. Loading builds the
model from its preset, checks the header against it, and assigns each array
cast to the variable's dtype, so a file never loads into a model of another
shape, nor into one whose variables fit but compute something else (another
attention type or head count, say).

A prior's frozen copy of the VQ-VAE codebook is not stored: it comes from the
VQ-VAE the prior is loaded over, and the header keeps a fingerprint of the
codebook the prior was trained with, so a prior is never paired with a VQ-VAE
whose codes mean something else.

Example:
>>> vqvae = kv.VQVAE.from_preset("moving_mnist", weights=True)  # doctest: +SKIP
>>> prior = kv.VideoGPT.from_preset("moving_mnist", vqvae, weights=True)  # doctest: +SKIP
>>> kv.pretrained.save_weights(prior, "my_prior.npz")  # doctest: +SKIP
"""

import hashlib
import io
import json
import os

import numpy as np
import tensorflow as tf

from keras_videogpt.presets import WEIGHTS_DIR
from keras_videogpt.variable_keys import variable_key

FORMAT = "keras_videogpt.weights/1"
_FLOAT16_MAX = 65504.0


def shipped_path(filename):
    """The path of a weights file that ships in the package (`keras_videogpt/weights/`)."""
    return os.path.join(WEIGHTS_DIR, filename)


# Settings that change what a model computes but not its variables' shapes: a file only loads
# into a model that agrees with it on each of these that both configs hold. (Settings that
# change the variables are caught by their names and shapes.)
_SAME_SHAPES_OTHER_RESULTS = ("attn_type", "num_heads", "latent_shape", "reference_epsilon",
                              "downsample", "quantizer", "levels", "reference_rounding")
_SPARSE_LAYOUT = ("sparse_block_size", "sparse_local_blocks")


def _check_settings(path, saved, config):
    """Raises if `config` differs from the `saved` one where the variables cannot tell."""
    keys = _SAME_SHAPES_OTHER_RESULTS
    if saved.get("attn_type") == "sparse":
        keys += _SPARSE_LAYOUT
    differ = [k for k in keys if k in saved and k in config
              and _plain(saved[k]) != _plain(config[k])]
    if differ:
        found = ", ".join(f"{k}={saved[k]!r} in the file but {_plain(config[k])!r} here"
                          for k in differ)
        raise ValueError(f"'{path}' was saved from a model with other settings: {found}. The "
                         "variables would fit, but the model would compute something else; "
                         "build it with the file's settings.")


def _stored_variables(model):
    """`(key, variable)` of what a weights file holds: all but a prior's codebook copy."""
    skip = getattr(model, "codebook", None)
    return [(variable_key(model, v), v) for v in model.weights if v is not skip]


def codebook_fingerprint(codebook):
    """A short hash of a codebook, rounded to float16 so a float16 copy has the same one."""
    value = np.asarray(codebook, dtype="float32").astype("float16")
    return hashlib.sha256(value.tobytes()).hexdigest()[:16]


def save_weights(model, path, dtype="float16", metadata=None):
    """Writes `model`'s variables to an `.npz` weights file.

    Args:
        model: a `VQVAE` or `VideoGPT`.
        path: the file to write (local or any path `tf.io.gfile` writes).
        dtype: "float16" (half the size; a variable whose values exceed the
            float16 range stays float32) or "float32".
        metadata: optional dict recorded in the header (recipe, scores...).
    Returns:
        The header written, as a dict.
    """
    if dtype not in ("float16", "float32"):
        raise ValueError(f"`dtype` must be 'float16' or 'float32'; got {dtype!r}.")
    arrays, entries = {}, []
    for i, (key, variable) in enumerate(_stored_variables(model)):
        value = np.asarray(variable.numpy())
        if dtype == "float16" and value.dtype.kind == "f" and (
                not value.size or np.abs(value).max() < _FLOAT16_MAX):
            value = value.astype("float16")
        arrays[f"w{i:04d}"] = value
        entries.append([key, list(value.shape)])
    meta = {"format": FORMAT, "class": type(model).__name__, "config": _plain(model.get_config()),
            "variables": entries, "metadata": metadata or {}}
    codebook = getattr(model, "codebook", None)
    if codebook is not None:
        meta["codebook_fingerprint"] = codebook_fingerprint(codebook.numpy())
    arrays["__meta__"] = np.array(json.dumps(meta))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    with tf.io.gfile.GFile(path, "wb") as f:
        f.write(buffer.getvalue())
    return meta


def _plain(value):
    """JSON-friendly copy of a config (tuples as lists)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist")
                                 else str(v)))


def read_header(path):
    """The JSON header of a weights file, or a clear error if the file is not one."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"No weights file at '{path}'.")
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            archive = np.load(io.BytesIO(f.read()), allow_pickle=False)
        meta = json.loads(str(archive["__meta__"]))
    except Exception as e:  # a truncated zip, another kind of npz...
        raise ValueError(f"'{path}' is not a keras_videogpt weights file (an .npz written by "
                         f"keras_videogpt.pretrained.save_weights): {type(e).__name__}: {e}"
                         ) from None
    if meta.get("format") != FORMAT:
        raise ValueError(f"'{path}' has weights format {meta.get('format')!r}; this version "
                         f"reads {FORMAT!r}.")
    return meta, archive


def is_weights_file(path):
    """True if `path` is a weights file of this module (by its header), False otherwise."""
    try:
        read_header(path)
    except (ValueError, FileNotFoundError):
        return False
    return True


def load_weights(model, path, vqvae=None):
    """Assigns the variables stored in `path` to `model`, checking every name and shape.

    Args:
        model: a built `VQVAE` or `VideoGPT` of the same config as the saved one.
        path: a file written by `save_weights`.
        vqvae: for a prior, the VQ-VAE it is loaded over; its codebook must be
            the one the prior was trained with.
    Returns:
        The header's `metadata` dict.
    """
    meta, archive = read_header(path)
    if meta["class"] != type(model).__name__:
        raise ValueError(f"'{path}' holds the weights of a {meta['class']}, not a "
                         f"{type(model).__name__}.")
    _check_settings(path, meta["config"], model.get_config())
    stored = _stored_variables(model)
    entries = meta["variables"]
    if len(entries) != len(stored):
        raise ValueError(f"'{path}' holds {len(entries)} variables; this model has {len(stored)}. "
                         f"It was saved from another configuration: {meta['config']}.")
    for i, ((key, variable), (saved_key, shape)) in enumerate(zip(stored, entries)):
        if key != saved_key or tuple(variable.shape) != tuple(shape):
            raise ValueError(f"'{path}' does not fit this model: variable {i} is {saved_key} "
                             f"{tuple(shape)} in the file and {key} {tuple(variable.shape)} here.")
    for i, (_, variable) in enumerate(stored):
        variable.assign(archive[f"w{i:04d}"].astype(variable.dtype))
    expected = meta.get("codebook_fingerprint")
    if expected is not None:
        if vqvae is not None:
            model.set_codebook(vqvae)
        found = codebook_fingerprint(model.codebook.numpy())
        if found != expected:
            raise ValueError(f"The prior in '{path}' was trained over another VQ-VAE's codebook "
                             "(fingerprints differ): its codes would decode to something else. "
                             "Load it over the VQ-VAE it was trained with (for a shipped preset, "
                             "`VQVAE.from_preset(<its vqvae preset>, weights=True)`).")
    return meta.get("metadata", {})
