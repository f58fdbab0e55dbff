"""A masked (MaskGIT-style) prior over the same code grid: bidirectional, filled in a few steps.

Training hides a random share of each grid's codes behind a learned mask
vector, the share drawn from MaskGIT's cosine schedule, and predicts the hidden
codes from all the others. Sampling (`keras_videogpt.masked_sampling`) starts
from a fully masked grid and, over `steps` rounds, keeps the most confident
predictions, so a whole video takes 8 to 16 passes instead of one per code.
"""

import math

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt import distribute
from keras_videogpt.prior.model import VideoGPT, unpack_prior_batch


def masked_count(ratio, length):
    """How many of `length` codes a mask ratio hides: `ceil(ratio * length)`, at least 1."""
    return ops.maximum(ops.cast(ops.ceil(ratio * length), "int32"), 1)


def cosine_ratio(progress):
    """MaskGIT's schedule: the share still masked after a fraction `progress` of the way."""
    return ops.cos(progress * (math.pi / 2))


def random_mask(uniforms, counts):
    """Boolean `[B, L]` masks hiding, in each row, the `counts[b]` positions of lowest
    `uniforms[b]` (so a fixed draw of uniforms gives a fixed mask)."""
    order = ops.argsort(ops.argsort(uniforms, axis=-1), axis=-1)  # the rank of each position
    return order < ops.cast(counts, "int32")[:, None]


@keras.saving.register_keras_serializable(package="keras_videogpt")
class MaskedVideoPrior(VideoGPT):
    """A bidirectional transformer over a VQ-VAE's code grid, trained to fill in masked codes.

    Same layers as `VideoGPT` (codebook embedding, position embedding,
    transformer blocks, frame and class conditioning) but no right shift and no
    causal mask: every code sees every other. Masked codes enter as a learned
    `mask_embedding` instead of their codebook vector.

    `fit` draws, per clip, a share `r = cos(pi / 2 * u)` (u uniform) of the
    codes to mask, `ceil(r * L)` of them, and minimises the cross-entropy of
    the masked codes (logged as `loss`, in nats per masked code). With
    `label_dropout > 0` (class-conditional priors), each clip's label is
    replaced by the null class (`null_label`) at that rate, which is what
    classifier-free guidance needs at sampling.

    `attn_type` is "full" or "axial" (the non-causal sum of attentions along
    T, H and W); the reference's sparse layout is causal only.

    Args:
        label_dropout: rate at which training hides the class (0: never).
        **kwargs: as `VideoGPT`.

    Example:
    >>> prior = MaskedVideoPrior.from_vqvae(vqvae, hidden_dim=96, num_heads=4,
    ...                                     num_layers=2)                  # doctest: +SKIP
    >>> prior.compile(optimizer=prior.default_optimizer(1000, 1e-3))     # doctest: +SKIP
    >>> prior.fit(encode_in_pipeline(videos, vqvae), epochs=4)           # doctest: +SKIP
    """

    CAUSAL = False

    def __init__(self, *args, seed=None, **kwargs):
        if kwargs.get("attn_type", "full") == "sparse":
            raise ValueError("A masked prior attends both ways; the sparse layout is causal "
                             "only: use attn_type='full' or 'axial'.")
        self.seed = seed
        super().__init__(*args, **kwargs)
        # Inherited but unused (no right shift here): frozen, so that training neither
        # warns that it has no gradient nor gives it optimizer slots. It stays a weight, so
        # `.keras` files and `warm_start` see the same variables as before.
        self.right_shift.trainable = False
        self.mask_embedding = self.add_weight(
            name="mask_embedding", shape=(self.embedding_dim,),
            initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.seed_generator = keras.random.SeedGenerator(seed)

    @property
    def length(self):
        return int(np.prod(self.latent_shape))

    def call(self, inputs, training=None):
        """Logits `[B, t, h, w, n_codes]` (float32) for codes `[B, t, h, w]` with `mask`
        (bool, same shape; True = hidden) in the dict; without `mask`, nothing is hidden."""
        inputs = unpack_prior_batch(inputs)
        codes = self._check_codes(inputs["codes"])
        vector, frame_encoding = self.encode_conditions(
            inputs.get("cond_frames"), inputs.get("label"), inputs.get("cond"), training=training)
        emb = ops.take(self.codebook, ops.cast(codes, "int32"), axis=0)
        mask = inputs.get("mask")
        if mask is not None:
            emb = ops.where(ops.cast(mask, "bool")[..., None], self.mask_embedding, emb)
        h = self.position(self.fc_in(ops.cast(emb, self.compute_dtype)))
        h = self._blocks(h, vector, frame_encoding, training)
        return ops.cast(self.fc_out(self.norm(h, vector)), "float32")

    def draw_training_mask(self, batch_size):
        """Masks `[B, t, h, w]` with MaskGIT's cosine-distributed share of codes hidden."""
        u = keras.random.uniform((batch_size,), seed=self.seed_generator)
        counts = masked_count(cosine_ratio(u), self.length)
        scores = keras.random.uniform((batch_size, self.length), seed=self.seed_generator)
        return ops.reshape(random_mask(scores, counts), (batch_size,) + self.latent_shape)

    def masked_loss(self, logits, codes, mask):
        """Mean cross-entropy of the masked codes only."""
        ce = keras.losses.sparse_categorical_crossentropy(codes, logits, from_logits=True)
        weight = ops.cast(mask, "float32")
        return ops.sum(ce * weight) / ops.maximum(ops.sum(weight), 1.0)

    def _masked_batch(self, batch):
        batch = dict(unpack_prior_batch(batch))
        batch["mask"] = self.draw_training_mask(ops.shape(batch["codes"])[0])
        return batch

    def train_step(self, data):
        batch = self.drop_labels(self._masked_batch(data))
        with tf.GradientTape() as tape:
            logits = self(batch, training=True)
            loss = self.masked_loss(logits, batch["codes"], batch["mask"])
            scaled = self.optimizer.scale_loss(distribute.scale_loss(loss))
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update(loss)

    def test_step(self, data):
        batch = self._masked_batch(data)
        logits = self(batch, training=False)
        return self._update(self.masked_loss(logits, batch["codes"], batch["mask"]))

    def decode_step(self, *args, **kwargs):
        raise NotImplementedError("A masked prior fills the grid in parallel steps: sample it "
                                  "with keras_videogpt.masked_sampling.MaskedSampler.")

    def get_config(self):
        config = super().get_config()
        config.update(seed=self.seed)
        return config

