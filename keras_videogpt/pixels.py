"""The one place that converts pixels between uint8 [0, 255] and the models' range.

The models take floats in [-0.5, 0.5], the reference's normalization:
`x / 255 - 0.5`. Going back, floats are clipped to that range and rounded.
Each function takes numpy arrays (and returns numpy) or tensors (and returns
TF tensors, usable in tf.data pipelines and exported graphs).

Example:
>>> to_float(np.array([0, 255], "uint8"))
array([-0.5,  0.5], dtype=float32)
>>> to_uint8(np.array([-0.7, 0.0, 0.5], "float32"))
array([  0, 128, 255], dtype=uint8)
"""

import numpy as np
import tensorflow as tf


def to_float(video, dtype="float32"):
    """uint8 pixels (or any integer or float values in [0, 255]) -> `x / 255 - 0.5` in `dtype`."""
    if isinstance(video, np.ndarray):
        return (video.astype("float32") / 255.0 - 0.5).astype(dtype)
    return tf.cast(tf.cast(video, tf.float32) / 255.0 - 0.5, dtype)


def to_uint8(video):
    """Floats in [-0.5, 0.5] (clipped) -> uint8 pixels, rounded to the nearest; uint8 passes."""
    if isinstance(video, np.ndarray) or not tf.is_tensor(video):
        video = np.asarray(video)
        if video.dtype == np.uint8:
            return video
        return np.round((np.clip(video, -0.5, 0.5) + 0.5) * 255).astype("uint8")
    if video.dtype == tf.uint8:
        return video
    video = tf.clip_by_value(tf.cast(video, tf.float32), -0.5, 0.5)
    return tf.cast(tf.round((video + 0.5) * 255.0), tf.uint8)


def to_i3d_range(video):
    """uint8 pixels (or floats in [0, 255]) -> float32 in [-1, 1], what I3D takes."""
    return 2.0 * tf.cast(video, tf.float32) / 255.0 - 1.0
