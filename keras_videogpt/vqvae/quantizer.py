"""The VQ-VAE's vector quantizer with an EMA codebook."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt import distribute
from keras_videogpt.vqvae import reference_rounding


def code_counts(codes, n_codes):
    """How often each of `n_codes` codes occurs in the flat int `codes`, over all replicas."""
    return distribute.all_reduce_sum(
        ops.segment_sum(ops.ones_like(codes, "float32"), codes, n_codes))


def counts_statistics(counts):
    """`(perplexity, usage)` of code counts: exp(entropy), and the share of codes used."""
    probs = counts / ops.sum(counts)
    perplexity = ops.exp(-ops.sum(probs * ops.log(probs + 1e-10)))
    return perplexity, ops.mean(ops.cast(counts > 0, "float32"))


def code_statistics(codes, n_codes):
    """`(perplexity, usage)` of flat int `codes` (over all replicas)."""
    return counts_statistics(code_counts(codes, n_codes))


@keras.saving.register_keras_serializable(package="keras_videogpt")
class VectorQuantizer(keras.layers.Layer):
    """Nearest-code quantizer whose codebook is learned by exponential moving averages.

    In training mode (`training=True`) each call also updates the codebook, as
    the reference does:

    - **Data-dependent init.** On the first training call the codebook, the
      running sums and the counts are set from randomly chosen encoder outputs
      of that batch (repeated with a little noise when the batch has fewer
      vectors than codes).
    - **EMA.** Counts `N` and sums `z_avg` decay by `decay` (0.99) towards the
      batch's per-code counts and sums; the codebook is `z_avg / N` with
      Laplace smoothing of `N`.
    - **Restarts.** Codes whose EMA count falls below 1 are replaced by random
      encoder outputs of the batch.

    Under a tf.distribute strategy, the counts and sums are all-reduced and
    the random draws are broadcast from replica 0, so replicas stay identical.

    Codebook state is float32 whatever the compute dtype, and distances are
    computed in float32. The codebook is not trained by gradients.

    Args:
        n_codes: codebook size.
        embedding_dim: code vector width.
        decay: EMA decay.
        epsilon: Laplace smoothing constant.
        seed: seed of the random draws.
        reference_rounding: pick codes as the reference's PyTorch float32
            kernels round the distances, so that near-ties (about one
            position in a thousand) go the reference's way rather than to
            the exact nearest code. Given the same `z` bit for bit, codes
            then equal the reference's; see `reference_rounding.py` for what
            it reproduces and its cost. Off by default: a `z` computed by
            other kernels differs in its last bits, which decides such
            ties anew.

    Call returns a dict: `quantized` (straight-through, same shape as the
    input), `codes` (int32 `[B, t, h, w]`), `commitment_loss`
    (`mean((z - sg(e))^2)`), `perplexity` and `usage` (the share of codes
    used in the batch).
    """

    def __init__(self, n_codes, embedding_dim, decay=0.99, epsilon=1e-7, seed=None,
                 reference_rounding=False, **kwargs):
        super().__init__(**kwargs)
        self.n_codes = int(n_codes)
        self.embedding_dim = int(embedding_dim)
        self.decay = float(decay)
        self.epsilon = float(epsilon)
        self.seed = seed
        self.reference_rounding = bool(reference_rounding)
        self.seed_generator = keras.random.SeedGenerator(seed)
        state = dict(trainable=False, autocast=False, dtype="float32",
                     aggregation="only_first_replica")
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.n_codes, self.embedding_dim),
            initializer=keras.initializers.RandomNormal(stddev=1.0), **state)
        self.cluster_size = self.add_weight(
            name="cluster_size", shape=(self.n_codes,), initializer="zeros", **state)
        self.embedding_sum = self.add_weight(
            name="embedding_sum", shape=(self.n_codes, self.embedding_dim),
            initializer="zeros", **state)
        self.initialized = self.add_weight(
            name="initialized", shape=(), initializer="zeros", **state)

    def build(self, input_shape):
        if input_shape[-1] != self.embedding_dim:
            raise ValueError(f"The quantizer expects vectors of width {self.embedding_dim}, "
                             f"got input shape {input_shape}.")

    def _random_rows(self, flat):
        """`n_codes` distinct random rows of `flat` (tiled with noise if too few)."""
        rows = ops.shape(flat)[0]
        repeats = (self.n_codes + rows - 1) // rows
        std = 0.01 / np.sqrt(self.embedding_dim)
        if isinstance(rows, int):  # static batch: the usual case, and XLA's
            if repeats > 1:
                flat = ops.tile(flat, (repeats, 1))
                flat = flat + keras.random.normal(ops.shape(flat), stddev=std,
                                                  seed=self.seed_generator)
        else:
            # A batch of unknown size (no drop_remainder): keras.ops.tile needs static repeats.
            flat = tf.tile(flat, tf.stack([repeats, 1]))
            noise = keras.random.normal(ops.shape(flat), stddev=std,
                                        seed=self.seed_generator)
            flat = flat + noise * ops.cast(repeats > 1, flat.dtype)
        scores = keras.random.uniform(ops.shape(flat)[:1], seed=self.seed_generator)
        _, index = ops.top_k(scores, self.n_codes)
        return distribute.broadcast_from_first_replica(ops.take(flat, index, axis=0))

    def lookup(self, codes):
        """Codebook vectors of int codes: `[...]` -> `[..., embedding_dim]`."""
        return ops.take(self.embeddings, ops.cast(codes, "int32"), axis=0)

    def nearest(self, flat, codebook):
        """Index of the nearest code (squared Euclidean; lowest index on ties)."""
        distances = (ops.sum(ops.square(flat), axis=1, keepdims=True)
                     - 2.0 * ops.matmul(flat, ops.transpose(codebook))
                     + ops.sum(ops.square(codebook), axis=1)[None, :])
        if self.reference_rounding:
            return reference_rounding.nearest(flat, codebook, distances)
        # TF's own argmin: `ops.argmin` first rewrites -0.0 as below +0.0 (five more ops
        # over all the distances, 4% of the tiny encode), which would also break the
        # lowest-index rule on a tie between them.
        return tf.argmin(distances, axis=1, output_type=tf.int32)

    def call(self, z, training=None):
        in_dtype = z.dtype
        z = ops.cast(z, "float32")
        grid = z.shape[1:-1]
        flat = ops.reshape(z, (-1, self.embedding_dim))
        codebook = self.embeddings
        if training:
            ready = self.initialized > 0.5
            init_rows = self._random_rows(flat)
            codebook = ops.where(ready, codebook, init_rows)
            cluster_size = ops.where(ready, self.cluster_size, ops.ones((self.n_codes,)))
            embedding_sum = ops.where(ready, self.embedding_sum, init_rows)

        codes = self.nearest(flat, codebook)
        quantized = ops.take(codebook, codes, axis=0)
        counts = code_counts(codes, self.n_codes)

        if training:
            sums = distribute.all_reduce_sum(
                ops.segment_sum(flat, codes, self.n_codes))
            d = self.decay
            cluster_size = d * cluster_size + (1 - d) * counts
            embedding_sum = d * embedding_sum + (1 - d) * sums
            total = ops.sum(cluster_size)
            smoothed = ((cluster_size + self.epsilon)
                        / (total + self.n_codes * self.epsilon) * total)
            new_codebook = embedding_sum / smoothed[:, None]
            alive = (cluster_size >= 1.0)[:, None]
            new_codebook = ops.where(alive, new_codebook, self._random_rows(flat))
            self.cluster_size.assign(cluster_size)
            self.embedding_sum.assign(embedding_sum)
            self.embeddings.assign(new_codebook)
            self.initialized.assign(1.0)

        quantized = ops.reshape(quantized, ops.shape(z))
        commitment = ops.mean(ops.square(z - ops.stop_gradient(quantized)))
        straight_through = z + ops.stop_gradient(quantized - z)
        perplexity, usage = counts_statistics(counts)
        return dict(
            quantized=ops.cast(straight_through, in_dtype),
            codes=ops.reshape(codes, (-1, *grid)),
            commitment_loss=commitment,
            perplexity=perplexity,
            usage=usage,
        )

    def get_config(self):
        config = super().get_config()
        config.update(n_codes=self.n_codes, embedding_dim=self.embedding_dim,
                      decay=self.decay, epsilon=self.epsilon, seed=self.seed,
                      reference_rounding=self.reference_rounding)
        return config
