"""The prior's likelihood of held-out codes in bits per code, accumulated over batches."""

import math

import keras
import numpy as np

from keras_videogpt.prior.model import code_nats, unpack_prior_batch


class BitsPerDimStats:
    """Running negative log-likelihood of a prior over a stream of code batches.

    The definition of the prior's `bits_per_dim` metric: the mean negative
    log-likelihood per latent code in nats, divided by ln 2, weighted by the
    number of codes in each batch.

    `by_latent_step()` breaks the same figure down by the latent grid's time
    step. It shows whether a prior uses the past: a prior that predicts a
    video's later codes from its earlier ones scores the later steps far
    below the first.

    Example:
    >>> stats = BitsPerDimStats()
    >>> for batch in held_out:                     # doctest: +SKIP
    ...     stats.update(prior, batch)             # codes, or a dict with conditions
    >>> stats.result(), stats.by_latent_step()     # doctest: +SKIP
    """

    def __init__(self):
        self.nats, self.count = 0.0, 0
        self.step_nats, self.step_count = None, 0

    def update_nll(self, mean_nats, count):
        """Adds `count` codes whose mean negative log-likelihood is `mean_nats`."""
        self.nats += float(mean_nats) * int(count)
        self.count += int(count)
        return self

    def update(self, prior, batch, logits=None):
        """Scores `batch` (codes, or a dict with `codes` and the prior's conditions)."""
        batch = unpack_prior_batch(batch)
        codes = batch["codes"]
        if logits is None:
            logits = prior(batch, training=False)
        if np.shape(logits)[:-1] != np.shape(codes):
            raise ValueError(f"Logits of shape {tuple(np.shape(logits))} do not match codes of "
                             f"shape {tuple(np.shape(codes))} (expected codes' shape + (n_codes,)).")
        nats = np.asarray(keras.ops.convert_to_numpy(code_nats(logits, codes)),
                          np.float64)  # [B, t, h, w]
        per_step = nats.reshape(nats.shape[0], nats.shape[1], -1).sum(axis=(0, 2))
        if self.step_nats is None:
            self.step_nats = np.zeros_like(per_step)
        elif self.step_nats.shape != per_step.shape:
            raise ValueError(f"Batches of {per_step.shape[0]} latent steps after batches of "
                             f"{self.step_nats.shape[0]}: one BitsPerDimStats per latent grid.")
        self.step_nats += per_step
        self.step_count += nats.size // nats.shape[1]
        return self.update_nll(nats.mean(), nats.size)

    def result(self):
        if not self.count:
            raise ValueError("bits/dim got no codes.")
        return self.nats / self.count / math.log(2)

    def by_latent_step(self):
        """Bits per code at each time step of the latent grid, a list (from `update` batches)."""
        if not self.step_count:
            raise ValueError("bits/dim by latent step got no codes (update() fills it; "
                             "update_nll() does not).")
        return [float(n) for n in self.step_nats / self.step_count / math.log(2)]
