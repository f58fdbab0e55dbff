"""Reconstruction quality: normalised MSE, one-shot or streamed over batches."""

import numpy as np


class NMSEStats:
    """Running sums for the NMSE over a stream of (real, reconstruction) batches (float64).

    Example:
    >>> stats = NMSEStats()
    >>> for real, recon in pairs:          # doctest: +SKIP
    ...     stats.update(real, recon)
    >>> stats.result()                     # doctest: +SKIP
    """

    def __init__(self):
        self.count, self._sum, self._sum_sq, self._err = 0, 0.0, 0.0, 0.0

    def update(self, real, reconstruction):
        real = np.asarray(real, "float64")
        reconstruction = np.asarray(reconstruction, "float64")
        if real.shape != reconstruction.shape:
            raise ValueError(f"Shapes differ: {real.shape} and {reconstruction.shape}.")
        self.count += real.size
        self._sum += real.sum()
        self._sum_sq += np.square(real).sum()
        self._err += np.square(real - reconstruction).sum()
        return self

    def result(self):
        if self.count == 0:
            raise ValueError("NMSE got no values.")
        mean = self._sum / self.count
        var = self._sum_sq / self.count - mean * mean
        if var <= 1e-12 * max(1.0, self._sum_sq / self.count):
            raise ValueError("The real clips are constant; NMSE is undefined.")
        return float(self._err / self.count / var)


def nmse(real, reconstruction):
    """MSE between `real` and `reconstruction` divided by the variance of `real`.

    Both are arrays of the same shape in the same range (e.g. [-0.5, 0.5]).
    0 is perfect; 1 is as good as predicting the data mean everywhere.
    """
    return NMSEStats().update(real, reconstruction).result()
