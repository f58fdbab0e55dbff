"""Fréchet Video Distance, computed as the reference FVD code computes it.

Preprocessing, exactly as google-research's `frechet_video_distance` (which
VideoGPT's FVD follows): uint8 clips `[B, T, H, W, 3]`, every frame resized to
224x224 with TF1's `resize_bilinear` (`align_corners=False`, no half-pixel
centres; in TF2 that is `tf.compat.v1.image.resize_bilinear` or
`tf.raw_ops.ResizeBilinear(..., half_pixel_centers=False)`, NOT
`tf.image.resize`, which uses half-pixel centres), scaled as
`2 * x / 255 - 1`, embedded by I3D (the 400 Kinetics logits, averaged over
time by the network), then the Fréchet distance in float64.
"""

import numpy as np
import tensorflow as tf

from keras_videogpt import pixels
from keras_videogpt.metrics.frechet import FeatureStats, frechet_distance

RESOLUTION = 224
RESIZE_METHOD = "tf1 resize_bilinear (align_corners=False, half_pixel_centers=False)"


def check_clips(videos, name="videos"):
    """uint8 `[B, T, H, W, 3]`; floats are refused (say which range they came from)."""
    if not hasattr(videos, "dtype"):
        videos = np.asarray(videos)
    dtype = tf.as_dtype(videos.dtype)
    if dtype != tf.uint8:
        raise TypeError(f"{name} must be uint8 in [0, 255]; got {dtype.name}. Convert float "
                        "video in [-0.5, 0.5] with keras_videogpt.visualize.to_uint8.")
    if len(videos.shape) != 5 or videos.shape[-1] != 3:
        raise ValueError(f"{name} must be [batch, frames, height, width, 3]; got "
                         f"{tuple(videos.shape)}.")
    return videos


def preprocess(videos):
    """uint8 `[B, T, H, W, 3]` -> float32 `[B, T, 224, 224, 3]` in [-1, 1], as the reference."""
    videos = tf.convert_to_tensor(videos)
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], 0))
    frames = tf.raw_ops.ResizeBilinear(images=frames, size=[RESOLUTION, RESOLUTION],
                                       align_corners=False, half_pixel_centers=False)
    frames = tf.reshape(frames, tf.concat([shape[:2], [RESOLUTION, RESOLUTION, 3]], 0))
    return pixels.to_i3d_range(frames)


def default_batch_size(frames, budget_mb=2048):
    """Clips per I3D call that keep activations within about `budget_mb` MiB.

    `bench/fvd.py` measured ~44 MiB of peak memory per 16-frame clip at
    224x224 in float32 (forward only; 808 MiB at 1 clip, 1118 MiB at 8),
    i.e. under 3 MiB per frame; this budgets 4 MiB per frame. At least 1 clip.
    """
    return max(1, int(budget_mb // (4 * max(frames, 1))))


def embed(i3d, videos, batch_size=None, stats=None, progress=None):
    """I3D logits of uint8 clips, accumulated into `stats` (a `FeatureStats`) batch by batch."""
    videos = check_clips(videos)
    stats = stats or FeatureStats()
    batch_size = batch_size or default_batch_size(videos.shape[1])
    for start in range(0, videos.shape[0], batch_size):
        chunk = videos[start:start + batch_size]
        stats.update(np.asarray(i3d(preprocess(chunk))))
        if progress is not None:
            progress(len(chunk))
    return stats


def fvd(i3d, real, generated, batch_size=None):
    """FVD between two uint8 clip sets `[N, T, H, W, 3]` (same T), with the given I3D."""
    real, generated = check_clips(real, "real"), check_clips(generated, "generated")
    if real.shape[1] != generated.shape[1]:
        raise ValueError(f"Both sets need clips of the same length; got {real.shape[1]} and "
                         f"{generated.shape[1]} frames.")
    return frechet_distance(embed(i3d, real, batch_size), embed(i3d, generated, batch_size))
