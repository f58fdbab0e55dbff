"""Reconstruction quality: normalised MSE."""

import numpy as np


def nmse(real, reconstruction):
    """MSE between `real` and `reconstruction` divided by the variance of `real`.

    Both are arrays of the same shape in the same range (e.g. [-0.5, 0.5]).
    0 is perfect; 1 is as good as predicting the data mean everywhere.
    """
    real = np.asarray(real, "float64")
    reconstruction = np.asarray(reconstruction, "float64")
    if real.shape != reconstruction.shape:
        raise ValueError(f"Shapes differ: {real.shape} and {reconstruction.shape}.")
    var = real.var()
    if var == 0:
        raise ValueError("The real clips are constant; NMSE is undefined.")
    return float(((real - reconstruction) ** 2).mean() / var)
