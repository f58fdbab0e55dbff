"""Parallel decoding of a `MaskedVideoPrior` (MaskGIT): a whole grid in `steps` passes.

Start with every code masked. At step n, the prior predicts all masked codes
at once; a code is drawn for each (Gumbel-max on the filtered logits); each
draw gets a confidence, its log-probability plus Gumbel noise scaled by
`choice_temperature * (1 - (n + 1) / steps)` (annealed to 0); the
`masked_after[n]` least confident draws are masked again and the rest kept for
good. `masked_after` follows the cosine schedule and reaches 0 at the last step.

The noise is the counter-based hash of `keras_videogpt.sampling`, keyed by the
seed, the step and the position, so the same seed draws the same video with or
without XLA; the loop is one `tf.while_loop` with static shapes.

Classifier-free guidance (class-conditional priors trained with
`label_dropout`): the logits are `uncond + guidance_scale * (cond - uncond)`,
with `uncond` the prediction for the null class.

Example:
>>> sampler = MaskedSampler(prior, vqvae, steps=12)          # doctest: +SKIP
>>> out = sampler.sample(batch_size=4, seed=0)               # doctest: +SKIP
"""

import functools
import math

import numpy as np
import tensorflow as tf

from keras_videogpt import validation
from keras_videogpt.sampling import (check_controls, filter_logits, guided_logits,
                                     hash_uniform, seed_rows, video_to_uint8)


def masked_after(steps, length):
    """Codes still masked after each of `steps` steps: the cosine schedule, strictly falling
    by at least one per step, ending at 0."""
    if steps < 1 or steps > length:
        raise ValueError(f"steps must be in [1, {length}] for {length} codes; got {steps}.")
    counts, previous = [], length
    for n in range(steps):
        count = int(math.floor(length * math.cos(math.pi / 2 * (n + 1) / steps)))
        count = max(min(count, previous - 1), steps - n - 1)
        counts.append(count)
        previous = count
    return counts


def step_noise(seeds, step, length, n_codes):
    """The uniforms of one step: `[B, length, n_codes]` for the draws, `[B, length]` for the
    confidences; a hash of (seed, step, position, code)."""
    draws = hash_uniform(seeds, 2 * step, length * n_codes)
    choice = hash_uniform(seeds, 2 * step + 1, length)
    return tf.reshape(draws, (-1, length, n_codes)), choice


class MaskedSampler:
    """Samples codes (and videos) from a `MaskedVideoPrior` in `steps` parallel steps.

    Args:
        prior: a `MaskedVideoPrior`.
        vqvae: the VQ-VAE that decodes the codes (optional for codes only).
        steps: passes over the grid (8 to 16 is MaskGIT's range).
        choice_temperature: scale of the confidence noise at the first step
            (annealed linearly to 0).
        jit_compile: compile the loop with XLA.
    """

    def __init__(self, prior, vqvae=None, steps=12, choice_temperature=4.5, jit_compile=True):
        if vqvae is not None and (tuple(vqvae.latent_shape) != prior.latent_shape
                                  or vqvae.n_codes != prior.n_codes):
            raise ValueError(f"The VQ-VAE's latent {vqvae.latent_shape} x {vqvae.n_codes} codes "
                             f"does not match the prior's {prior.latent_shape} x "
                             f"{prior.n_codes}.")
        self.prior, self.vqvae = prior, vqvae
        self.length = int(np.prod(prior.latent_shape))
        self.steps = int(steps)
        self.schedule = masked_after(self.steps, self.length)
        self.choice_temperature = float(choice_temperature)
        self._jit_compile = jit_compile
        self._loops = {}  # the whole loop, compiled once per batch size (`loop`)

    def loop(self, batch_size):
        """The compiled `draw_codes` for one batch size, traced once (as `Sampler.loop`:
        the batch size fixes the loop's shapes, and one function retraced per batch size
        had TF warn of "excessive retracing")."""
        batch_size = int(batch_size)
        if batch_size not in self._loops:
            self._loops[batch_size] = tf.function(
                functools.partial(self.draw_codes, batch_size),
                jit_compile=self._jit_compile, reduce_retracing=True)
        return self._loops[batch_size]

    def _logits(self, codes, mask, label, guidance_scale, cond_frames):
        prior, b = self.prior, tf.shape(codes)[0]
        grid = (-1,) + prior.latent_shape
        inputs = {"codes": tf.reshape(codes, grid), "mask": tf.reshape(mask, grid)}
        if cond_frames is not None:
            inputs["cond_frames"] = cond_frames
        if label is None:
            return tf.reshape(prior(inputs, training=False), (b, self.length, -1))
        doubled = {k: tf.concat([v, v], 0) for k, v in inputs.items()}
        doubled["label"] = tf.concat([label, tf.fill(tf.shape(label), prior.null_label)], 0)
        both = tf.reshape(prior(doubled, training=False), (2, b, self.length, -1))
        return guided_logits(both[0], both[1], guidance_scale)

    def draw_codes(self, batch_size, seeds, temperature, top_k, top_p, cond_frames=None,
                   label=None, guidance_scale=1.0):
        """The whole loop as traceable TF code: int32 codes `[B, t, h, w]` from per-row seeds
        `[B, 2]`, the controls as tensors and the conditions."""
        n_codes = self.prior.n_codes
        schedule = tf.constant(self.schedule, tf.int32)

        def body(n, codes, mask):
            logits = self._logits(codes, mask, label, guidance_scale, cond_frames)
            draws, choice = step_noise(seeds, tf.cast(n, tf.int64), self.length, n_codes)
            filtered = tf.reshape(filter_logits(tf.reshape(logits, (-1, n_codes)), temperature,
                                                top_k, top_p), tf.shape(logits))
            gumbel = -tf.math.log(-tf.math.log(draws))
            drawn = tf.cast(tf.argmax(filtered + gumbel, axis=-1), tf.int32)
            log_probs = tf.nn.log_softmax(filtered, axis=-1)
            picked = tf.gather(log_probs, drawn, axis=-1, batch_dims=2)
            anneal = self.choice_temperature * (1.0 - tf.cast(n + 1, tf.float32) / self.steps)
            confidence = picked + anneal * (-tf.math.log(-tf.math.log(choice)))
            confidence = tf.where(mask, confidence, np.inf)  # kept codes stay kept
            codes = tf.where(mask, drawn, codes)
            rank = tf.argsort(tf.argsort(confidence, axis=-1), axis=-1)
            return n + 1, codes, rank < schedule[n]

        codes = tf.zeros((batch_size, self.length), tf.int32)
        mask = tf.ones((batch_size, self.length), tf.bool)
        _, codes, _ = tf.while_loop(lambda n, *_: n < self.steps, body,
                                    (tf.constant(0), codes, mask))
        return tf.reshape(codes, (batch_size,) + self.prior.latent_shape)

    def sample_codes(self, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
                     cond_frames=None, label=None, guidance_scale=1.0):
        """int32 codes `[B, t, h, w]`; the same seed gives the same codes."""
        prior = self.prior
        batch_size = validation.check_batch_size(batch_size)
        seed = validation.check_seed(seed)
        check_controls(temperature, top_k, top_p, prior.n_codes)
        if guidance_scale != 1.0 and prior.class_cond_dim is None:
            raise ValueError("guidance_scale needs a class-conditional prior.")
        if prior.class_cond_dim is not None:
            if label is None:
                raise ValueError("This prior is class-conditional: pass `label` (int [B]).")
            label = tf.constant(validation.check_labels(np.asarray(label), prior.class_cond_dim,
                                                        batch_size, null=True), tf.int32)
        elif label is not None:
            raise ValueError("This prior is not class-conditional, but a label was given.")
        if prior.n_cond_frames:
            if cond_frames is None:
                raise ValueError(f"This prior is conditioned on {prior.n_cond_frames} frame(s): "
                                 "pass `cond_frames`.")
            cond_frames = validation.to_float_video(np.asarray(cond_frames))
        return self.loop(batch_size)(seed_rows(seed, batch_size), tf.constant(float(temperature)),
                                     tf.constant(int(top_k or 0)),
                                     tf.constant(float(top_p or 1.0)), cond_frames, label,
                                     tf.constant(float(guidance_scale)))

    def sample(self, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
               cond_frames=None, label=None, guidance_scale=1.0):
        """Codes and decoded video, as `keras_videogpt.Sampler.sample` returns them."""
        if self.vqvae is None:
            raise ValueError("Decoding needs the VQ-VAE: MaskedSampler(prior, vqvae).")
        codes = self.sample_codes(batch_size, seed, temperature, top_k, top_p, cond_frames,
                                  label, guidance_scale)
        video = tf.clip_by_value(tf.cast(self.vqvae.decode(codes), tf.float32), -0.5, 0.5)
        return {"codes": codes, "video": video, "video_uint8": video_to_uint8(video)}
