"""The Fréchet distance between two sets of features, and streaming statistics for it."""

import warnings

import numpy as np


class FeatureStats:
    """Running mean and covariance of feature rows, merged batch by batch (float64).

    Uses Chan et al.'s pairwise update, so thousands of clips never need to be
    held at once and the result equals the one-shot `np.cov` to rounding.

    Example:
    >>> stats = FeatureStats()
    >>> for batch in batches:                 # doctest: +SKIP
    ...     stats.update(i3d(batch))
    >>> stats.mean, stats.covariance()        # doctest: +SKIP
    """

    def __init__(self):
        self.count, self.mean, self._m2 = 0, None, None

    def update(self, features):
        x = np.asarray(features, "float64")
        if x.ndim != 2:
            raise ValueError(f"Features must be [N, D]; got shape {x.shape}.")
        if self.mean is not None and x.shape[1] != self.mean.shape[0]:
            raise ValueError(f"Feature width {x.shape[1]} differs from the {self.mean.shape[0]} "
                             "seen before.")
        n = x.shape[0]
        if n == 0:
            return self
        mean = x.mean(0)
        centred = x - mean
        m2 = centred.T @ centred
        if self.mean is None:
            self.count, self.mean, self._m2 = n, mean, m2
        else:
            total = self.count + n
            delta = mean - self.mean
            self._m2 = self._m2 + m2 + np.outer(delta, delta) * (self.count * n / total)
            self.mean = self.mean + delta * (n / total)
            self.count = total
        return self

    def state(self):
        """`{"count", "mean", "m2"}` arrays from which `from_state` rebuilds these statistics."""
        if self.mean is None:
            raise ValueError("No features were added yet.")
        return {"count": np.asarray(self.count), "mean": self.mean, "m2": self._m2}

    @classmethod
    def from_state(cls, state):
        stats = cls()
        stats.count = int(state["count"])
        stats.mean = np.asarray(state["mean"], "float64")
        stats._m2 = np.asarray(state["m2"], "float64")
        return stats

    def covariance(self):
        """Unbiased covariance (divides by N - 1)."""
        if self.count < 2:
            raise ValueError(f"A covariance needs at least 2 clips; got {self.count}.")
        return self._m2 / (self.count - 1)


def _sqrt_psd(matrix):
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def trace_sqrt_product(sigma_a, sigma_b):
    """`tr(sqrt(sigma_a @ sigma_b))` for covariance matrices, computed stably.

    `sqrt(A) B sqrt(A)` is symmetric positive semi-definite and has the same
    eigenvalues as `A B`, so the trace is the sum of the square roots of its
    (real, clipped at 0) eigenvalues. No general `sqrtm` and no complex noise.
    """

    root = _sqrt_psd(sigma_a)
    inner = root @ sigma_b @ root
    values = np.linalg.eigvalsh((inner + inner.T) / 2)
    return float(np.sqrt(np.clip(values, 0, None)).sum())


def frechet_from_stats(mean_a, cov_a, mean_b, cov_b):
    """`|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrt(S_a S_b))`, in float64."""
    mean_a, mean_b = np.asarray(mean_a, "float64"), np.asarray(mean_b, "float64")
    cov_a, cov_b = np.asarray(cov_a, "float64"), np.asarray(cov_b, "float64")
    diff = mean_a - mean_b
    value = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt_product(cov_a, cov_b)
    return float(max(value, 0.0))


def _stats(features, name):
    if isinstance(features, FeatureStats):
        return features
    x = np.asarray(features, "float64")
    if x.ndim != 2:
        raise ValueError(f"{name} must be [N, D] features; got shape {x.shape}.")
    return FeatureStats().update(x)


def frechet_distance(features_a, features_b):
    """Fréchet distance between two `[N, D]` feature sets (or `FeatureStats`).

    Float64 throughout, unbiased covariances. Fewer than 2 rows is an error;
    fewer rows than dimensions is allowed, with a warning, because the
    covariance is then singular and the distance is biased upwards.
    """
    a, b = _stats(features_a, "features_a"), _stats(features_b, "features_b")
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"The feature widths differ: {a.mean.shape[0]} and {b.mean.shape[0]}.")
    for name, s in (("first", a), ("second", b)):
        if s.count < 2:
            raise ValueError(f"The {name} set has {s.count} clip(s); a Fréchet distance "
                             "needs at least 2.")
        if s.count < s.mean.shape[0]:
            warnings.warn(f"The {name} set has {s.count} clips for {s.mean.shape[0]}-d features: "
                          "its covariance is singular, so the distance is biased. Use more "
                          "clips than dimensions for a comparable number.", stacklevel=2)
    return frechet_from_stats(a.mean, a.covariance(), b.mean, b.covariance())
