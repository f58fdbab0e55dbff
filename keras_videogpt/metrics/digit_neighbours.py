"""A second digit judge: nearest neighbours among real digits, with no network at all.

The digit score (`keras_videogpt.metrics.digits`) asks a CNN trained by the
project whether a frame holds a digit. A judge built another way checks that
the CNN's confidence means what it seems to: `NearestDigitJudge` asks whether
a frame holds a window that looks like real digits of one class.

A frame counts when some 28x28 window whose ink is centred (its centre of
mass within `centre_tolerance` pixels of the window's centre, as MNIST
centres its digits) has

- `votes` of its `k` nearest digits (cosine distance, over the
  `classifier` split of the packaged digits, which no clip shows) of one
  label, and
- a mean distance to those `k` no larger than that of `quantile` of unseen
  real digits (the `test` split) to their own `k` nearest.

So a frame of texture, a blur, a broken stroke or two merged digits does not
count, however a network would label it. Real Moving MNIST clips score about
0.77 (digits that cross or leave the frame fail), against about 0.98 for the
CNN's score, so the two scores are read side by side, not against each other.
"""

import numpy as np
import tensorflow as tf

from keras_videogpt.data.moving_mnist import DIGIT, digit_split
from keras_videogpt.visualize import to_uint8


def _unit_rows(x):
    x = np.asarray(x, "float32").reshape(len(x), -1)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)


class NearestDigitJudge:
    """Scores frames by their nearest real digits (see the module docstring).

    Args:
        k: neighbours consulted.
        votes: how many of the `k` must share a label.
        quantile: share of unseen real digits at least as far from their
            neighbours as a counted window may be.
        centre_tolerance: pixels between a window's ink centre and its centre.
        stride: pixels between candidate windows.
        min_ink: least total ink (pixels in [0, 1]) of a candidate window.
        digits_path: the MNIST file (`keras_videogpt.data.mnist_digits`).

    Example:
    >>> judge = NearestDigitJudge()
    >>> judge.score(videos)["score"]       # share of frames, uint8 [N, T, H, W, C]  # doctest: +SKIP
    """

    def __init__(self, k=10, votes=9, quantile=0.95, centre_tolerance=2.5, stride=2,
                 min_ink=20.0, digits_path=None):
        if not 0 < votes <= k:
            raise ValueError(f"votes must be in [1, k={k}]; got {votes}.")
        self.k, self.votes, self.quantile = int(k), int(votes), float(quantile)
        self.centre_tolerance, self.stride, self.min_ink = centre_tolerance, stride, min_ink
        x, self.labels = digit_split("classifier", digits_path)
        self.reference = _unit_rows(x / 255.0)
        unseen, _ = digit_split("test", digits_path)
        distance, _ = self._neighbours(_unit_rows(unseen / 255.0))
        self.max_distance = float(np.quantile(distance, self.quantile))

    def _neighbours(self, windows):
        """Mean cosine distance to the `k` nearest reference digits, and their labels."""
        similarity = windows @ self.reference.T
        nearest = np.argpartition(-similarity, self.k, axis=1)[:, :self.k]
        distance = 1.0 - np.take_along_axis(similarity, nearest, 1).mean(1)
        return distance, self.labels[nearest]

    def _centred_windows(self, frames):
        """`(windows [M, 784], frame index [M])`: the windows whose ink is centred."""
        patches = tf.image.extract_patches(frames[..., None], [1, DIGIT, DIGIT, 1],
                                           [1, self.stride, self.stride, 1], [1, 1, 1, 1],
                                           "VALID").numpy()
        patches = patches.reshape(len(frames), -1, DIGIT, DIGIT)
        mass = patches.sum((2, 3))
        grid = np.arange(DIGIT, dtype="float32")
        safe = np.maximum(mass, 1e-6)
        centre_y = (patches.sum(3) * grid).sum(2) / safe
        centre_x = (patches.sum(2) * grid).sum(2) / safe
        middle = (DIGIT - 1) / 2
        keep = ((mass >= self.min_ink) & (np.abs(centre_y - middle) <= self.centre_tolerance)
                & (np.abs(centre_x - middle) <= self.centre_tolerance))
        frame_index, window_index = np.nonzero(keep)
        return patches[frame_index, window_index].reshape(-1, DIGIT * DIGIT), frame_index

    def score(self, videos, frames_per_batch=64):
        """The share of frames with a counted window.

        Args:
            videos: uint8 `[N, T, H, W, C]` (or floats in [-0.5, 0.5]),
                frames of at least 28x28.

        Returns:
            `{"score", "frames"}`.
        """
        frames = to_uint8(videos).astype("float32").mean(-1) / 255
        frames = frames.reshape((-1,) + frames.shape[-2:])
        if min(frames.shape[1:]) < DIGIT:
            raise ValueError(f"Frames must be at least {DIGIT}x{DIGIT}; got {frames.shape[1:]}.")
        counted = np.zeros(len(frames), bool)
        for start in range(0, len(frames), frames_per_batch):
            windows, index = self._centred_windows(frames[start:start + frames_per_batch])
            if not len(windows):
                continue
            distance, labels = self._neighbours(_unit_rows(windows))
            # How many of each window's neighbours share its most common label.
            agree = (labels[:, :, None] == np.arange(10)).sum(1).max(1)
            good = (agree >= self.votes) & (distance <= self.max_distance)
            counted[start + index[good]] = True
        return {"score": float(counted.mean()), "frames": int(len(frames))}
