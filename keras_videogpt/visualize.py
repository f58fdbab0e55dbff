"""Video grids and GIF files for looking at clips, reconstructions and samples."""

import math

import numpy as np

from keras_videogpt import pixels


def to_uint8(video):
    """Float video in [-0.5, 0.5] (clipped) or uint8 -> uint8 numpy."""
    return pixels.to_uint8(np.asarray(video))


def video_grid(videos, ncol=None, padding=1):
    """Tile `[B, T, H, W, C]` clips into one `[T, H', W', C]` clip (row-major)."""
    videos = to_uint8(videos)
    b, t, h, w, c = videos.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    grid = np.zeros((t, padding + nrow * (h + padding), padding + ncol * (w + padding), c),
                    "uint8")
    for i in range(b):
        r, q = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + q * (w + padding)
        grid[:, top:top + h, left:left + w] = videos[i]
    return grid


def save_gif(path, video, fps=8):
    """Write a `[T, H, W, C]` clip (uint8, or floats in [-0.5, 0.5]) as a looping GIF."""
    from PIL import Image

    frames = to_uint8(video)
    if frames.ndim != 4:
        raise ValueError(f"save_gif takes one clip [T, H, W, C]; got shape {frames.shape}.")
    if frames.shape[-1] == 1:
        frames = np.repeat(frames, 3, axis=-1)
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps),
                   loop=0)
    return path


def filmstrip(videos, padding=1):
    """`[B, T, H, W, C]` clips as one image: a row per clip, its frames left to right."""
    videos = to_uint8(videos)
    b, t, h, w, c = videos.shape
    image = np.zeros((padding + b * (h + padding), padding + t * (w + padding), c), "uint8")
    for i in range(b):
        for j in range(t):
            top, left = padding + i * (h + padding), padding + j * (w + padding)
            image[top:top + h, left:left + w] = videos[i, j]
    return image
