"""Quality metrics: FVD and R-FVD with I3D, the Fréchet distance, NMSE and bits/dim."""

import math

import numpy as np

from keras_videogpt.metrics.frechet import FeatureStats, frechet_distance
from keras_videogpt.metrics.fvd import fvd, preprocess, reconstruction_fvd
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.metrics.reconstruction import nmse


def bits_per_dim(prior, batches):
    """The prior's cross-entropy in bits per latent code over `batches` (codes or dicts).

    The definition of the prior's `bits_per_dim` metric: the mean negative
    log-likelihood per code in nats, divided by ln 2, weighted by code count.
    """
    from keras_videogpt.prior.model import unpack_prior_batch

    total, count = 0.0, 0
    for batch in batches:
        batch = unpack_prior_batch(batch)
        n = int(np.prod(np.shape(batch["codes"])))
        loss = float(prior.compute_prior_loss(prior(batch, training=False), batch["codes"]))
        total, count = total + loss * n, count + n
    if count == 0:
        raise ValueError("bits_per_dim got no batches.")
    return total / count / math.log(2)
