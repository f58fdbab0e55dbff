"""I3D statistics of real clips kept on disk, so that repeated evaluations skip I3D on them.

Embedding thousands of real clips with I3D takes most of an FVD run on a CPU,
and the real set's statistics do not change between evaluations of different
models. A statistic is stored under a hash of everything that fixes it: the
data, the split, the clip-selection seed, the clip count and shape, the I3D
source, and for reconstructions the VQ-VAE's weights. Change any of them and
the key changes, so a stale statistic is never reused.
"""

import hashlib
import io
import json
import os

import numpy as np
import tensorflow as tf

from keras_videogpt.metrics.frechet import FeatureStats


def weights_hash(model):
    """A short hash of all of `model`'s weights."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.asarray(weight.numpy()).tobytes())
    return digest.hexdigest()[:16]


class StatsCache:
    """`FeatureStats` in a folder (local or gs://), one `.npz` per key, with a `.json` of its fields.

    Args:
        directory: where the statistics live; made when first written.

    Example:
    >>> cache = StatsCache("runs/fvd_stats")                       # doctest: +SKIP
    >>> key = cache.key(kind="real", data="bair", split="test", seed=0)  # doctest: +SKIP
    >>> stats = cache.load(key) or embed_all_and(cache.save, key)  # doctest: +SKIP
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)

    @staticmethod
    def key(**fields):
        """A hash of `fields` (JSON values), the same for the same fields in any order."""
        text = json.dumps(fields, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def _path(self, key, suffix):
        return os.path.join(self.directory, f"{key}{suffix}")

    def load(self, key):
        """The cached `FeatureStats` of `key`, or None."""
        path = self._path(key, ".npz")
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path, "rb") as f:
            raw = f.read()
        with np.load(io.BytesIO(raw)) as data:
            return FeatureStats.from_state(dict(data))

    def save(self, key, stats, fields=None):
        """Stores `stats` under `key` (atomically), with the fields the key was made from."""
        tf.io.gfile.makedirs(self.directory)
        buffer = io.BytesIO()  # np.savez seeks and reads back; GFile's writers do not
        np.savez(buffer, **stats.state())
        tmp = self._path(key, ".partial.npz")
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(buffer.getvalue())
        tf.io.gfile.rename(tmp, self._path(key, ".npz"), overwrite=True)
        if fields is not None:
            with tf.io.gfile.GFile(self._path(key, ".json"), "w") as f:
                json.dump(fields, f, indent=1, sort_keys=True, default=str)
