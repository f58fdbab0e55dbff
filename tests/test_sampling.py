import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VQVAE
from keras_videogpt import VQVAE, VideoGPT, sampling
from test_prior import FRAME_COND, TINY_PRIOR, randomize_output

SPARSE = dict(attn_type="sparse", sparse_block_size=4, sparse_local_blocks=1)
VARIANTS = {"full": {}, "axial": dict(attn_type="axial"), "sparse": SPARSE,
            "frames": FRAME_COND, "class": dict(class_cond_dim=3),
            "axial_frames": dict(attn_type="axial", **FRAME_COND),
            "axial_class": dict(attn_type="axial", class_cond_dim=3)}


def conditions(extra, batch):
    rng = np.random.default_rng(2)
    out = {}
    if "n_cond_frames" in extra:
        out["cond_frames"] = rng.uniform(-.5, .5, (batch, 1, 8, 8, 3)).astype("float32")
    if "class_cond_dim" in extra:
        out["label"] = np.arange(batch) % 3
    return out


@pytest.mark.parametrize("batch", [1, 3])  # batch 1 projects q, k, v as one matmul
@pytest.mark.parametrize("name", list(VARIANTS))
def test_cached_sampler_equals_naive_sampler(name, batch):
    extra = VARIANTS[name]
    prior = VideoGPT(**TINY_PRIOR, **extra)
    randomize_output(prior)
    cond = conditions(extra, batch)
    controls = dict(seed=11, temperature=0.9, top_k=10, top_p=0.95)
    fast = sampling.Sampler(prior).sample_codes(batch, **controls, **cond).numpy()
    slow = sampling.naive_sample_codes(prior, batch, **controls, **cond)
    np.testing.assert_array_equal(fast, slow)
    assert fast.shape == (batch, 2, 3, 4) and fast.dtype == np.int32
    assert len(np.unique(fast)) > 3  # not a degenerate draw


@pytest.mark.parametrize("jit_compile", [True, False], ids=["xla", "graph"])
def test_segmented_full_attention_sampler_equals_naive(jit_compile):
    """3 loops, each reading its cache prefix, draw the codes of one loop over the whole cache."""
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    sampler = sampling.Sampler(prior, segments=3, jit_compile=jit_compile)
    assert sampler.segment_ends == [8, 16, 24]
    fast = sampler.sample_codes(2, seed=5, top_k=8).numpy()
    np.testing.assert_array_equal(fast, sampling.naive_sample_codes(prior, 2, seed=5, top_k=8))
    chunked = sampler.sample_codes(2, seed=5, top_k=8, progress=lambda *_: None, chunks=5)
    np.testing.assert_array_equal(chunked.numpy(), fast)
    state = sampler.start(2, None, None)
    with pytest.raises(ValueError, match=r"key_limit must be one of the segments' ends"):
        sampler.decode_range(tf.constant(0), tf.constant(4), *state, sampling.seed_rows(5, 2),
                             1.0, 0, 1.0, None, key_limit=7)
    with pytest.raises(ValueError, match=r"segments must be in \[1, 24\]"):
        sampling.Sampler(prior, segments=0)


def test_graph_executor_and_xla_draw_the_same_codes_as_naive():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    xla = sampling.Sampler(prior, jit_compile=True).sample_codes(2, seed=3).numpy()
    graph = sampling.Sampler(prior, jit_compile=False).sample_codes(2, seed=3).numpy()
    np.testing.assert_array_equal(graph, xla)
    np.testing.assert_array_equal(xla, sampling.naive_sample_codes(prior, 2, seed=3))


def test_sample_reuses_one_compiled_sampler_per_prior():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    first = sampling.sample(prior, batch_size=2, seed=1)["codes"].numpy()
    sampler = sampling.cached_sampler(prior)
    second = sampling.sample(prior, batch_size=2, seed=1)["codes"].numpy()
    np.testing.assert_array_equal(first, second)
    assert sampling.cached_sampler(prior) is sampler
    assert sampler.loop(2).experimental_get_tracing_count() == 1  # traced once, not per call
    assert sampling.cached_sampler(prior, jit_compile=False) is not sampler


def test_each_batch_size_and_prompt_length_has_a_loop_traced_once():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    sampler = sampling.Sampler(prior)
    for batch in (1, 2, 3, 2, 1):
        codes = sampler.sample_codes(batch, seed=5).numpy()
    prompted = sampler.continue_codes(codes[:, :1], seed=5).numpy()
    np.testing.assert_array_equal(prompted[:, :1], codes[:, :1])
    assert set(sampler._loops) == {(1, False, None), (2, False, None), (3, False, None),
                                   (1, False, 12)}
    assert all(f.experimental_get_tracing_count() == 1 for f in sampler._loops.values())


def test_same_seed_same_codes_other_seed_other_codes():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    s = sampling.Sampler(prior)
    a, b, c = (s.sample_codes(4, seed=k).numpy() for k in (1, 1, 2))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_top_k_one_is_greedy():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    codes = sampling.Sampler(prior).sample_codes(2, seed=0, top_k=1).numpy()
    again = sampling.Sampler(prior).sample_codes(2, seed=99, top_k=1).numpy()
    np.testing.assert_array_equal(codes, again)
    # Greedy: each code is the argmax of the teacher-forced logits.
    logits = prior(codes).numpy()
    np.testing.assert_array_equal(codes, logits.argmax(-1))


def test_filter_logits_closed_form():
    logits = np.log(np.array([[0.5, 0.3, 0.15, 0.05]], "float32"))
    out = sampling.filter_logits(logits, 1.0, 0, 0.7).numpy()
    assert np.isfinite(out[0, :2]).all() and np.isinf(out[0, 2:]).all()
    out = sampling.filter_logits(logits, 1.0, 3, 1.0).numpy()
    assert np.isfinite(out[0, :3]).all() and np.isinf(out[0, 3])
    out = sampling.filter_logits(logits, 2.0, 0, 1.0).numpy()
    np.testing.assert_allclose(out, logits / 2, rtol=1e-6)


def test_sample_returns_codes_and_video():
    vqvae = VQVAE(**TINY_VQVAE)
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1)
    out = sampling.sample(prior, vqvae, batch_size=2, seed=0)
    assert out["codes"].shape == (2, 2, 8, 8) and out["codes"].dtype == "int32"
    assert out["video"].shape == (2, 4, 16, 16, 3) and out["video"].dtype == "float32"
    assert out["video_uint8"].dtype == "uint8"
    np.testing.assert_array_equal(
        out["video_uint8"].numpy(), np.round((out["video"].numpy() + 0.5) * 255).astype("uint8"))


@pytest.mark.parametrize("kwargs,message", [
    (dict(top_p=0.0), "top_p"), (dict(top_p=1.5), "top_p"), (dict(temperature=0), "temperature"),
    (dict(top_k=-1), "top_k"), (dict(batch_size=0), "batch_size"), (dict(seed=[1, 2, 3]), "seed"),
])
def test_bad_controls_are_refused(kwargs, message):
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(ValueError, match=message):
        sampling.Sampler(prior).sample_codes(**kwargs)


def test_mismatched_vqvae_is_refused():
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(ValueError, match="does not match"):
        sampling.Sampler(prior, VQVAE(**TINY_VQVAE))


def test_row_seeds_are_independent_of_batch_position():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    s = sampling.Sampler(prior)
    batch = s.sample_codes(3, seed=5).numpy()
    single = s.sample_codes(1, seed=5).numpy()
    np.testing.assert_array_equal(batch[:1], single)  # row 0 is the batch-of-1 video
    rows = np.array([[2, 5], [0, 5]])
    explicit = s.sample_codes(2, seed=rows).numpy()
    np.testing.assert_array_equal(explicit[0], batch[2])
    np.testing.assert_array_equal(explicit[1], batch[0])
    with pytest.raises(ValueError, match="batch_size 2"):
        s.sample_codes(2, seed=np.zeros((3, 2)))


def test_hash_uniform_is_uniform():
    import tensorflow as tf

    u = sampling.hash_uniform(tf.constant([[0, 1], [0, 2]], tf.int64), 7, 20000).numpy()
    assert 0 < u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.var() - 1 / 12) < 0.005
    assert abs(np.corrcoef(u[0], u[1])[0, 1]) < 0.03


def test_progress_runs_in_chunks_with_the_same_codes():
    prior = VideoGPT(**TINY_PRIOR, **FRAME_COND)
    randomize_output(prior)
    cond = conditions(FRAME_COND, 2)
    sampler = sampling.Sampler(prior)
    whole = sampler.sample_codes(2, seed=5, top_k=6, **cond).numpy()
    reports = []
    chunked = sampler.sample_codes(2, seed=5, top_k=6, **cond, chunks=5,
                                   progress=lambda done, total: reports.append((done, total)))
    np.testing.assert_array_equal(chunked.numpy(), whole)
    length = sampler.length
    assert [d for d, _ in reports] == sorted({d for d, _ in reports}) and len(reports) == 5
    assert reports[-1] == (length, length) and all(t == length for _, t in reports)


def test_classifier_free_guidance_equals_the_naive_guided_loop():
    prior = VideoGPT(**dict(TINY_PRIOR, class_cond_dim=3, label_dropout=0.2))
    randomize_output(prior)
    label = np.array([0, 2])
    sampler = sampling.Sampler(prior)
    plain = sampler.sample_codes(2, seed=4, label=label).numpy()
    np.testing.assert_array_equal(
        sampler.sample_codes(2, seed=4, label=label, guidance_scale=1.0).numpy(), plain)
    guided = sampler.sample_codes(2, seed=4, label=label, guidance_scale=3.0).numpy()
    np.testing.assert_array_equal(guided, sampling.naive_sample_codes(
        prior, 2, seed=4, label=label, guidance_scale=3.0))
    assert not np.array_equal(guided, plain)
    # In segments, the guided batch's doubled caches are read segment by segment too.
    np.testing.assert_array_equal(sampling.Sampler(prior, segments=3).sample_codes(
        2, seed=4, label=label, guidance_scale=3.0).numpy(), guided)
    with pytest.raises(ValueError, match="guidance_scale needs a class-conditional prior"):
        sampling.Sampler(VideoGPT(**TINY_PRIOR)).sample_codes(1, guidance_scale=2.0)


def test_label_dropout_trains_with_the_null_class():
    prior = VideoGPT(**dict(TINY_PRIOR, class_cond_dim=3, label_dropout=0.5))
    batch = {"codes": np.zeros((256,) + prior.latent_shape, "int32"),
             "label": np.zeros((256,), "int32")}
    dropped = np.asarray(prior.drop_labels(batch)["label"])
    assert set(np.unique(dropped)) == {0, 3} and 0.35 < (dropped == 3).mean() < 0.65
    prior.compile(optimizer=prior.default_optimizer(4))
    history = prior.fit({k: v[:8] for k, v in batch.items()}, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    with pytest.raises(ValueError, match="label_dropout needs a class-conditional prior"):
        VideoGPT(**dict(TINY_PRIOR, label_dropout=0.1))
