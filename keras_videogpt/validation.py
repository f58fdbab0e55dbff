"""Input checks that turn bad arguments into clear errors before TF sees them."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt import pixels

SEED_LIMIT = 2 ** 32


def _shape_of(x):
    return tuple(x.shape)


def as_tensor_like(x, what):
    """`x` unchanged if it has a shape and dtype; lists and scalars become numpy arrays."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return x
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise TypeError(f"The {what} must be an array or tensor; got {type(x).__name__}.") from e


def eager_values(x):
    """`x`'s values as numpy when they can be read now (numpy, eager tensors), else None."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.KerasTensor) or not hasattr(x, "numpy"):
        return None
    try:
        return x.numpy()  # symbolic tensors inside tf.function cannot be read
    except (AttributeError, NotImplementedError, TypeError):
        return None


def check_range(x, low, high, message):
    """Values of int `x` in [low, high): a ValueError now, or an in-graph check for symbolic x.

    Inside a graph the check is an assertion that fails with `message` when
    the graph runs (an `InvalidArgumentError`; XLA drops assertions), so a
    bad id never reaches `tf.gather`, which on GPU returns zeros silently.
    """

    values = eager_values(x)
    if values is not None:
        if values.size and (values.min() < low or values.max() >= high):
            raise ValueError(f"{message}; got values from {values.min()} to {values.max()}.")
        return x
    if tf.executing_eagerly() or isinstance(x, keras.KerasTensor):
        return x
    checks = [tf.debugging.assert_greater_equal(x, tf.cast(low, x.dtype), message=message),
              tf.debugging.assert_less(x, tf.cast(high, x.dtype), message=message)]
    with tf.control_dependencies(checks):
        return tf.identity(x)


def check_video_values(video):
    """Refuses float video with NaN or inf, or far outside [-0.5, 0.5] (such as 0..255 floats)."""
    values = eager_values(video)
    if values is None or not np.issubdtype(values.dtype, np.floating) or not values.size:
        return
    if not np.isfinite(values).all():
        raise ValueError(f"The video holds {int((~np.isfinite(values)).sum())} NaN or infinite "
                         "values.")
    low, high = float(values.min()), float(values.max())
    if low < -1.0 or high > 1.0:
        hint = (" It looks like pixels in 0..255: pass uint8, or floats x / 255 - 0.5."
                if high > 2.0 else "")
        raise ValueError(f"Float video must lie in [-0.5, 0.5] (the reference's range); got "
                         f"values from {low:g} to {high:g}.{hint}")


def to_float_video(video, compute_dtype="float32"):
    """Return `video` as floats in the reference's range.

    uint8 input (0..255) is converted to `x / 255 - 0.5`; float input is taken
    to be in [-0.5, 0.5] already. Any other dtype is refused.
    """
    if not hasattr(video, "dtype"):
        video = np.asarray(video)
    dtype = keras.backend.standardize_dtype(video.dtype)
    if dtype == "uint8":
        return pixels.to_float(video, compute_dtype)
    if dtype.startswith("float") or dtype.startswith("bfloat"):
        return ops.cast(video, compute_dtype)
    raise TypeError(
        f"Video has dtype {dtype}: expected uint8 in [0, 255] (converted to "
        "[-0.5, 0.5]) or floats already in [-0.5, 0.5].")


def check_video(video, video_shape, what="video"):
    """Checks a `[B, T, H, W, C]` video against the expected `(T, H, W, C)`."""
    shape = _shape_of(as_tensor_like(video, what))
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
    return check_range(codes, 0, n_codes, f"Codes must lie in [0, {n_codes})")


def check_labels(label, num_classes, batch_size=None, null=False):
    """int class ids `[B]` in [0, num_classes) (or `num_classes` itself, the null class of
    classifier-free guidance, with `null`); a clear error for anything else."""
    label = as_tensor_like(label, "label")
    dtype = keras.backend.standardize_dtype(label.dtype)
    if not dtype.startswith("int") and not dtype.startswith("uint"):
        raise TypeError(f"label must hold integer class ids; got dtype {dtype}.")
    shape = _shape_of(label)
    if len(shape) != 1:
        raise ValueError(f"label must be int [batch] (one class per video); got shape {shape}.")
    if batch_size is not None and shape[0] is not None and shape[0] != batch_size:
        raise ValueError(f"label has {shape[0]} entries for a batch of {batch_size}.")
    if null:
        return check_range(label, 0, num_classes + 1, f"label must be a class in "
                           f"[0, {num_classes}) or the null class {num_classes}")
    return check_range(label, 0, num_classes, f"label must be a class in [0, {num_classes})")


def check_seed(seed):
    """Refuses seeds that are not integers in [0, 2**32): None, strings, 1.5, -1, 2**32."""
    values = eager_values(seed)
    if values is None and not hasattr(seed, "dtype"):
        if seed is None or isinstance(seed, (str, bytes, bool)):
            raise TypeError(f"seed must be an int, 2 ints or [batch_size, 2] ints; got {seed!r}.")
        try:
            values = np.asarray(seed)
        except (ValueError, TypeError) as e:
            raise TypeError(f"seed must be an int, 2 ints or [batch_size, 2] ints; got "
                            f"{seed!r}.") from e
    if values is None:
        return seed  # a symbolic tensor: the exported signature checks it in-graph
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or not np.all(values == np.round(values)):
            raise ValueError(f"seed must hold whole numbers; got {values.tolist()}.")
    elif values.dtype.kind not in "iu":
        raise TypeError(f"seed must be an int, 2 ints or [batch_size, 2] ints; got {seed!r}.")
    if values.size and (values.min() < 0 or values.max() >= SEED_LIMIT):
        raise ValueError(f"Each seed must be an integer in [0, 2**32); got {values.tolist()}.")
    return values.astype("int64")


def check_batch_size(batch_size):
    """A whole number >= 1 (2.7 is refused, not truncated to 2)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer, float)) or (
            not float(batch_size).is_integer()) or batch_size < 1:
        raise ValueError(f"batch_size must be a whole number >= 1; got {batch_size!r}.")
    return int(batch_size)
