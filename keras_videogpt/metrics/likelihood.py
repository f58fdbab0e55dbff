"""The prior's likelihood of held-out codes in bits per code, accumulated over batches."""

import math

import numpy as np

from keras_videogpt.prior.model import unpack_prior_batch


class BitsPerDimStats:
    """Running negative log-likelihood of a prior over a stream of code batches.

    The definition of the prior's `bits_per_dim` metric: the mean negative
    log-likelihood per latent code in nats, divided by ln 2, weighted by the
    number of codes in each batch.

    Example:
    >>> stats = BitsPerDimStats()
    >>> for batch in held_out:                     # doctest: +SKIP
    ...     stats.update(prior, batch)             # codes, or a dict with conditions
    >>> stats.result()                             # doctest: +SKIP
    """

    def __init__(self):
        self.nats, self.count = 0.0, 0

    def update_nll(self, mean_nats, count):
        """Adds `count` codes whose mean negative log-likelihood is `mean_nats`."""
        self.nats += float(mean_nats) * int(count)
        self.count += int(count)
        return self

    def update(self, prior, batch, logits=None):
        """Scores `batch` (codes, or a dict with `codes` and the prior's conditions)."""
        batch = unpack_prior_batch(batch)
        if logits is None:
            logits = prior(batch, training=False)
        loss = prior.compute_prior_loss(logits, batch["codes"])
        return self.update_nll(loss, np.prod(np.shape(batch["codes"])))

    def result(self):
        if not self.count:
            raise ValueError("bits/dim got no codes.")
        return self.nats / self.count / math.log(2)
