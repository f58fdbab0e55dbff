"""Input checks that turn bad arguments into clear errors before TF sees them."""

import numpy as np
import keras
from keras import ops


def _shape_of(x):
    return tuple(x.shape)


def to_float_video(video, compute_dtype="float32"):
    """Return `video` as floats in the reference's range.

    uint8 input (0..255) is converted to `x / 255 - 0.5`; float input is taken
    to be in [-0.5, 0.5] already. Any other dtype is refused.
    """
    if not hasattr(video, "dtype"):
        video = np.asarray(video)
    dtype = keras.backend.standardize_dtype(video.dtype)
    if dtype == "uint8":
        return ops.cast(video, compute_dtype) / 255.0 - 0.5
    if dtype.startswith("float") or dtype.startswith("bfloat"):
        return ops.cast(video, compute_dtype)
    raise TypeError(
        f"Video has dtype {dtype}: expected uint8 in [0, 255] (converted to "
        "[-0.5, 0.5]) or floats already in [-0.5, 0.5].")


def check_video(video, video_shape, what="video"):
    """Checks a `[B, T, H, W, C]` video against the expected `(T, H, W, C)`."""
    shape = _shape_of(video)
    if len(shape) != 5:
        raise ValueError(
            f"The {what} must have rank 5, [batch, frames, height, width, channels] "
            f"(channels last); got shape {shape}.")
    t, h, w, c = video_shape
    if shape[-1] is not None and shape[-1] != c:
        raise ValueError(f"The {what} must have {c} channels (channels last); got "
                         f"shape {shape}. Channels-first input must be transposed.")
    if tuple(shape[1:4]) != (t, h, w) and None not in shape[1:4]:
        raise ValueError(
            f"The {what} must have {t} frames of {h}x{w}, as this model was built "
            f"for; got shape {shape}.")


def check_divisible(sequence_length, resolution, downsample):
    """Frames and size must divide by the downsampling factors."""
    dims = (("frames", sequence_length, downsample[0]),
            ("height", resolution[0], downsample[1]),
            ("width", resolution[1], downsample[2]))
    for name, size, factor in dims:
        if size % factor:
            raise ValueError(
                f"The {name} ({size}) is not divisible by the downsampling factor "
                f"{factor} (downsample={tuple(downsample)}).")


def check_codes(codes, latent_shape, n_codes):
    """Checks int codes `[B, t, h, w]`."""
    if not hasattr(codes, "dtype"):
        codes = np.asarray(codes)
    dtype = keras.backend.standardize_dtype(codes.dtype)
    if not dtype.startswith("int") and not dtype.startswith("uint"):
        raise TypeError(f"Codes must be integers; got dtype {dtype}.")
    shape = _shape_of(codes)
    if len(shape) != 4 or (tuple(shape[1:]) != tuple(latent_shape) and None not in shape[1:]):
        raise ValueError(f"Codes must have shape [batch, {', '.join(map(str, latent_shape))}]"
                         f" for this model; got {shape}.")
    values = codes if isinstance(codes, np.ndarray) else None
    if values is None and hasattr(codes, "numpy") and not isinstance(codes, keras.KerasTensor):
        try:
            values = codes.numpy()  # eager tensors; symbolic ones (in tf.function) cannot be read
        except (AttributeError, NotImplementedError, TypeError):
            values = None
    if values is not None and values.size and (values.min() < 0 or values.max() >= n_codes):
        raise ValueError(f"Codes must lie in [0, {n_codes}); got values from "
                         f"{values.min()} to {values.max()}.")
    return codes
