"""The masked (MaskGIT) prior: masking and its schedule, the loss, the N-step sampler against
a naive reimplementation, and classifier-free guidance."""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_videogpt import sampling
from keras_videogpt.masked_sampling import (MaskedSampler, guided_logits, masked_after,
                                            step_noise)
from keras_videogpt.prior.masked import (MaskedVideoPrior, cosine_ratio, masked_count,
                                         random_mask)
from tests.conftest import randomized

TINY = dict(latent_shape=(2, 2, 3), n_codes=8, embedding_dim=4, hidden_dim=12, num_heads=2,
            num_layers=1, dropout=0.0, attn_dropout=0.0)


def test_schedule_falls_along_the_cosine_to_zero():
    counts = masked_after(12, 1024)
    assert counts[0] == math.floor(1024 * math.cos(math.pi / 24)) and counts[-1] == 0
    assert all(a > b for a, b in zip([1024] + counts, counts))
    assert masked_after(4, 4) == [3, 2, 1, 0]  # one code per step when steps == length
    with pytest.raises(ValueError, match=r"steps must be in \[1, 12\]"):
        masked_after(13, 12)
    np.testing.assert_allclose(np.asarray(cosine_ratio(np.array([0.0, 1.0]))), [1.0, 0.0],
                               atol=1e-7)
    assert int(masked_count(0.001, 12)) == 1 and int(masked_count(0.5, 12)) == 6


def test_random_mask_hides_the_lowest_scores_and_exactly_count():
    scores = np.array([[0.3, 0.1, 0.9, 0.5], [0.2, 0.8, 0.4, 0.6]], "float32")
    mask = np.asarray(random_mask(scores, np.array([2, 1])))
    np.testing.assert_array_equal(mask, [[True, True, False, False], [True, False, False, False]])
    prior = MaskedVideoPrior(**TINY, seed=0)
    masks = np.asarray(prior.draw_training_mask(64)).reshape(64, -1)
    assert masks.sum(1).min() >= 1 and masks.sum(1).max() <= 12
    assert len(np.unique(masks.sum(1))) > 3  # the cosine schedule spreads the shares


def test_loss_counts_the_masked_codes_only():
    prior = MaskedVideoPrior(**TINY)
    logits = np.log(np.full((1, 2, 2, 3, 8), 1 / 8, "float32"))
    logits[0, 0, 0, 0] = np.log(np.eye(8)[3] * 0.93 + 0.01)
    codes = np.zeros((1, 2, 2, 3), "int32")
    codes[0, 0, 0, 0] = 3
    mask = np.zeros((1, 2, 2, 3), bool)
    mask[0, 0, 0, 0] = True
    p = 0.94 / 1.01  # the softmax of log(0.93 * onehot + 0.01)
    np.testing.assert_allclose(float(prior.masked_loss(logits, codes, mask)), -np.log(p),
                               rtol=1e-5)
    mask[0, 1, 1, 2] = True  # a uniform position: the mean of both
    np.testing.assert_allclose(float(prior.masked_loss(logits, codes, mask)),
                               (-np.log(p) + np.log(8)) / 2, rtol=1e-5)


def test_masked_prior_sees_both_ways_and_learns():
    keras.utils.set_random_seed(0)
    prior = MaskedVideoPrior(**TINY, seed=0)
    codes = np.tile(np.arange(12).reshape(1, 2, 2, 3) % 8, (32, 1, 1, 1)).astype("int32")
    mask = np.zeros(codes.shape, bool)
    mask[:, 0, 0, 0] = True
    before = np.asarray(prior({"codes": codes[:1], "mask": mask[:1]}))
    changed = codes[:1].copy()
    changed[0, 1, 1, 2] = 7 - changed[0, 1, 1, 2]  # the last code, after the masked first
    randomized(prior)
    a = np.asarray(prior({"codes": codes[:1], "mask": mask[:1]}))
    b = np.asarray(prior({"codes": changed, "mask": mask[:1]}))
    assert not np.allclose(a[0, 0, 0, 0], b[0, 0, 0, 0])  # a later code informs an earlier one
    assert before.shape == (1, 2, 2, 3, 8)
    prior = MaskedVideoPrior(**TINY, seed=0)
    # The inherited start token is unused, so it is not trained (and fit does not warn).
    assert not [v.path for v in prior.trainable_variables if "right_shift" in v.path]
    prior.compile(optimizer=prior.default_optimizer(120, 1e-2))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="Gradients do not exist")
        history = prior.fit(codes, batch_size=8, epochs=30, verbose=0).history["loss"]
    assert history[-1] < 0.25 * history[0]  # every code is its position's: learnable


def naive_masked_codes(prior, sampler, batch_size, seed, temperature=1.0):
    """The sampler's algorithm step by step in numpy, with its counter-based noise."""
    seeds = sampling.seed_rows(seed, batch_size)
    length, k = sampler.length, prior.n_codes
    codes = np.zeros((batch_size, length), "int32")
    mask = np.ones((batch_size, length), bool)
    for n in range(sampler.steps):
        logits = np.asarray(prior({"codes": codes.reshape((-1,) + prior.latent_shape),
                                   "mask": mask.reshape((-1,) + prior.latent_shape)}))
        logits = logits.reshape(batch_size, length, k) / temperature
        draws, choice = (np.asarray(x) for x in step_noise(seeds, n, length, k))
        drawn = np.argmax(logits - np.log(-np.log(draws)), -1)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        picked = np.take_along_axis(log_probs, drawn[..., None], -1)[..., 0]
        anneal = sampler.choice_temperature * (1 - (n + 1) / sampler.steps)
        confidence = np.where(mask, picked + anneal * -np.log(-np.log(choice)), np.inf)
        codes = np.where(mask, drawn, codes)
        mask = np.argsort(np.argsort(confidence, -1, kind="stable"), -1) < sampler.schedule[n]
    return codes.reshape((-1,) + prior.latent_shape)


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "graph"])
def test_n_step_sampler_equals_a_naive_reimplementation(jit_compile):
    prior = randomized(MaskedVideoPrior(**TINY))
    sampler = MaskedSampler(prior, steps=4, jit_compile=jit_compile)
    codes = sampler.sample_codes(3, seed=5).numpy()
    np.testing.assert_array_equal(codes, naive_masked_codes(prior, sampler, 3, 5))
    assert codes.shape == (3, 2, 2, 3) and codes.max() < 8
    np.testing.assert_array_equal(sampler.sample_codes(3, seed=5).numpy(), codes)
    assert not np.array_equal(sampler.sample_codes(3, seed=6).numpy(), codes)
    # A second batch size gets its own loop; each is traced once, and seed rows stay the same.
    first = sampler.sample_codes(1, seed=5).numpy()
    np.testing.assert_array_equal(first, codes[:1])
    assert sorted(sampler._loops) == [1, 3]
    assert [sampler.loop(b).experimental_get_tracing_count() for b in (1, 3)] == [1, 1]


def test_guidance_formula_and_sampling():
    cond, uncond = np.array([[2.0, 0.0]]), np.array([[1.0, 1.0]])
    np.testing.assert_allclose(guided_logits(cond, uncond, 1.0), cond)
    np.testing.assert_allclose(guided_logits(cond, uncond, 0.0), uncond)
    np.testing.assert_allclose(guided_logits(cond, uncond, 3.0), [[4.0, -2.0]])
    prior = randomized(MaskedVideoPrior(**TINY, class_cond_dim=3, label_dropout=0.1))
    sampler = MaskedSampler(prior, steps=3)
    label = np.array([0, 2])
    plain = sampler.sample_codes(2, seed=1, label=label).numpy()
    np.testing.assert_array_equal(
        sampler.sample_codes(2, seed=1, label=label, guidance_scale=1.0).numpy(), plain)
    assert prior.null_label == 3
    sampler.sample_codes(2, seed=1, label=np.array([3, 3]))  # the null class is a label
    with pytest.raises(ValueError, match="null class 3"):
        sampler.sample_codes(2, seed=1, label=np.array([4, 0]))
    with pytest.raises(ValueError, match="guidance_scale needs a class-conditional prior"):
        MaskedSampler(randomized(MaskedVideoPrior(**TINY)), steps=2).sample_codes(
            1, guidance_scale=2.0)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="sparse layout is causal only"):
        MaskedVideoPrior(**dict(TINY, attn_type="sparse"))
    with pytest.raises(ValueError, match="label_dropout needs a class-conditional prior"):
        MaskedVideoPrior(**TINY, label_dropout=0.1)
    with pytest.raises(NotImplementedError, match="MaskedSampler"):
        MaskedVideoPrior(**TINY).decode_step(None, 0, None)
    prior = MaskedVideoPrior(**TINY, attn_type="axial")
    clone = MaskedVideoPrior.from_config(prior.get_config())
    assert clone.attn_type == "axial" and clone.CAUSAL is False
    assert tf.is_tensor(prior.blocks[0].attn(tf.zeros((1, 2, 2, 3, 12))))


def test_masked_sampler_exports_with_the_same_signature(tmp_path):
    from keras_videogpt import VQVAE, checkpoints
    from keras_videogpt.serving import export_sampler
    from tests.conftest import TINY_VQVAE

    vqvae = VQVAE(**TINY_VQVAE)
    prior = randomized(MaskedVideoPrior.from_vqvae(vqvae, hidden_dim=12, num_heads=2,
                                                   num_layers=1, dropout=0.0))
    path = export_sampler(vqvae, prior, str(tmp_path / "m"), version=1, steps=5)
    served = tf.saved_model.load(path).signatures["sample"](
        batch_size=tf.constant(2), seed=tf.constant([0, 4], tf.int64),
        temperature=tf.constant(1.0), top_k=tf.constant(0), top_p=tf.constant(1.0))
    expected = MaskedSampler(prior, steps=5).sample_codes(2, seed=[0, 4]).numpy()
    np.testing.assert_array_equal(served["codes"].numpy(), expected)
    assert served["video"].dtype == tf.uint8 and served["video"].shape == (2, 4, 16, 16, 3)
    saved = str(tmp_path / "masked.keras")
    prior.save(saved)
    assert isinstance(checkpoints.load_prior(saved, vqvae), MaskedVideoPrior)
