import numpy as np
import pytest
import keras
import tensorflow as tf

from conftest import TINY_VQVAE, count_train_step_traces, fixture_path, reference_state
from keras_videogpt import VQVAE, VideoGPT, convert, presets

TINY_PRIOR = dict(latent_shape=(2, 3, 4), n_codes=16, embedding_dim=8, hidden_dim=24, num_heads=2,
                  num_layers=2, dropout=0.0, attn_dropout=0.0)
FRAME_COND = dict(n_cond_frames=1, frame_shape=(8, 8), resnet_blocks=(1, 1, 1, 1),
                  resnet_width=4, resnet_dim=12)


def randomize_output(prior, seed=0):
    """fc_out starts at zero (as in the reference); give it weights so logits vary."""
    rng = np.random.default_rng(seed)
    prior.fc_out.kernel.assign(rng.normal(size=prior.fc_out.kernel.shape) * 0.5)


def random_codes(batch=2, shape=(2, 3, 4), n=16, seed=0):
    return np.random.default_rng(seed).integers(0, n, (batch,) + shape).astype("int32")


def test_logits_shape_and_zero_init_output():
    prior = VideoGPT(**TINY_PRIOR)
    logits = prior(random_codes())
    assert logits.shape == (2, 2, 3, 4, 16) and logits.dtype == "float32"
    np.testing.assert_allclose(logits.numpy(), 0.0)  # fc_out is zero-initialised


SPARSE = dict(attn_type="sparse", sparse_block_size=4, sparse_local_blocks=1)


@pytest.mark.parametrize("extra", [dict(), dict(attn_type="axial"), SPARSE, FRAME_COND,
                                   dict(class_cond_dim=3)],
                         ids=["full", "axial", "sparse", "frames", "class"])
def test_future_codes_never_change_earlier_logits(extra):
    prior = VideoGPT(**TINY_PRIOR, **extra)
    randomize_output(prior)
    batch = {}
    if "n_cond_frames" in extra:
        batch["cond_frames"] = np.random.default_rng(1).uniform(-.5, .5, (2, 1, 8, 8, 3)).astype("float32")
    if "class_cond_dim" in extra:
        batch["label"] = np.array([0, 2])
    codes = random_codes()
    base = prior(dict(batch, codes=codes)).numpy().reshape(2, 24, 16)
    for pos in range(24):
        changed = codes.reshape(2, 24).copy()
        changed[:, pos:] = (changed[:, pos:] + 1) % 16
        out = prior(dict(batch, codes=changed.reshape(codes.shape))).numpy().reshape(2, 24, 16)
        np.testing.assert_allclose(out[:, :pos + 1], base[:, :pos + 1], atol=1e-5)
        if pos < 23:  # the next position does see the changed code
            assert not np.allclose(out[:, pos + 1], base[:, pos + 1])


def dependency_matrix(prior, seed):
    """`[L, L]` bool: logit i changes (max |change| > 1e-6) when code j alone changes."""
    rng = np.random.default_rng(seed)
    length = int(np.prod(prior.latent_shape))
    codes = rng.integers(0, prior.n_codes, (1, length)).astype("int32")
    base = prior(codes.reshape((1,) + prior.latent_shape)).numpy().reshape(length, -1)
    deps = np.zeros((length, length), bool)
    for j in range(length):
        changed = codes.copy()
        changed[0, j] = (changed[0, j] + rng.integers(1, prior.n_codes)) % prior.n_codes
        out = prior(changed.reshape((1,) + prior.latent_shape)).numpy().reshape(length, -1)
        deps[:, j] = np.abs(out - base).max(-1) > 1e-6
    return deps


@pytest.mark.parametrize("num_layers", [1, 4])
def test_causal_axial_prior_sees_every_earlier_code_and_no_later_one(num_layers):
    # One block already conditions each code on all earlier ones (see
    # keras_videogpt.layers.causal_axial); 4 checks that depth keeps it so.
    shape = (3, 4, 5)
    expected = np.tri(60, k=-1, dtype=bool)  # logit i depends on code j iff j < i
    for seed in range(3):
        keras.utils.set_random_seed(seed)
        prior = VideoGPT(latent_shape=shape, n_codes=16, embedding_dim=8, hidden_dim=24,
                         num_heads=2, num_layers=num_layers, dropout=0.0, attn_dropout=0.0,
                         attn_type="axial")
        randomize_output(prior, seed)
        deps = dependency_matrix(prior, seed)
        assert not (deps & ~expected).any(), f"later codes leak (seed {seed})"
        assert deps[expected].all(), (f"{(~deps[expected]).sum()} of {expected.sum()} earlier "
                                      f"codes are unseen (seed {seed})")


def test_conditioning_changes_the_logits():
    prior = VideoGPT(**TINY_PRIOR, class_cond_dim=3)
    randomize_output(prior)
    codes = random_codes()
    a = prior({"codes": codes, "label": np.array([0, 0])}).numpy()
    b = prior({"codes": codes, "label": np.array([1, 1])}).numpy()
    assert not np.allclose(a, b)
    with pytest.raises(ValueError, match="class-conditional"):
        prior(codes)
    frames = VideoGPT(**TINY_PRIOR, **FRAME_COND)
    with pytest.raises(ValueError, match="cond_frames"):
        frames(codes)
    with pytest.raises(ValueError, match="conditioning frames must have 1 frames of 8x8"):
        frames({"codes": codes, "cond_frames": np.zeros((2, 1, 4, 4, 3), "float32")})


def test_fit_lowers_loss_and_reports_bits_per_dim():
    keras.utils.set_random_seed(0)
    prior = VideoGPT(**TINY_PRIOR)
    # Codes with structure: each clip repeats one code, so the prior can learn it.
    codes = np.repeat(np.arange(16)[:, None], 24, 1).reshape(16, 2, 3, 4).astype("int32")
    prior.compile(optimizer=VideoGPT.default_optimizer(400, 3e-3))
    traces = count_train_step_traces(prior)
    hist = prior.fit(codes, batch_size=8, epochs=40, verbose=0).history
    assert len(traces) == 1  # the optimizer is built first, so no retrace to create its slots
    assert hist["loss"][0] == pytest.approx(np.log(16), rel=0.05)  # zero-init output: uniform
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    np.testing.assert_allclose(hist["bits_per_dim"], np.array(hist["loss"]) / np.log(2), rtol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients():
    codes = tf.constant(random_codes())
    grads = []
    for remat in (False, True):
        keras.utils.set_random_seed(0)
        prior = VideoGPT(**TINY_PRIOR, gradient_checkpointing=remat)
        randomize_output(prior)
        with tf.GradientTape() as tape:
            loss = prior.compute_prior_loss(prior(codes, training=True), codes)
        grads.append([g.numpy() for g in tape.gradient(loss, prior.trainable_variables)])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_keras_file_round_trip(tmp_path):
    prior = VideoGPT(**TINY_PRIOR, **FRAME_COND, class_cond_dim=3)
    randomize_output(prior)
    batch = {"codes": random_codes(), "label": np.array([1, 2]),
             "cond_frames": np.random.default_rng(0).uniform(-.5, .5, (2, 1, 8, 8, 3)).astype("float32")}
    prior.save(tmp_path / "prior.keras")
    loaded = keras.models.load_model(tmp_path / "prior.keras")
    np.testing.assert_allclose(loaded(batch).numpy(), prior(batch).numpy(), atol=1e-6)
    np.testing.assert_array_equal(loaded.codebook.numpy(), prior.codebook.numpy())


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="divisible by 3"):
        VideoGPT(**dict(TINY_PRIOR, hidden_dim=20))
    with pytest.raises(ValueError, match="divisible by num_heads"):
        VideoGPT(**dict(TINY_PRIOR, hidden_dim=21, num_heads=2))
    with pytest.raises(ValueError, match=r"Unknown attn_type 'local'; choose one of \('full', "
                                         r"'sparse', 'axial'\)"):
        VideoGPT(**TINY_PRIOR, attn_type="local")
    with pytest.raises(ValueError, match="cannot cut the latent \\(3, 4, 5\\) into blocks of 32"):
        VideoGPT(**dict(TINY_PRIOR, latent_shape=(3, 4, 5)), attn_type="sparse")
    with pytest.raises(ValueError, match="frame_shape"):
        VideoGPT(**TINY_PRIOR, n_cond_frames=1)
    with pytest.raises(ValueError, match="Unknown prior preset"):
        presets.prior_config("huge_gpt")
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        prior(np.full((1, 2, 3, 4), 99, "int32"))


def test_from_vqvae_copies_codebook_and_latent():
    vqvae = VQVAE(**TINY_VQVAE)
    prior = VideoGPT.from_preset("tiny", vqvae)
    assert prior.latent_shape == vqvae.latent_shape and prior.n_codes == vqvae.n_codes
    np.testing.assert_array_equal(prior.codebook.numpy(), vqvae.quantizer.embeddings.numpy())
    cond = VideoGPT.from_preset("tiny_frame_cond", vqvae)
    assert cond.frame_shape == vqvae.resolution
    with pytest.raises(ValueError, match="Codebook shape"):
        prior.set_codebook(np.zeros((3, 3)))


def test_presets_match_the_released_priors():
    bair = presets.prior_config("bair")  # bair_gpt: the paper's Table A.2, sparse, 1 frame
    assert (bair["hidden_dim"], bair["num_heads"], bair["num_layers"], bair["dropout"],
            bair["attn_dropout"], bair["attn_type"], bair["n_cond_frames"]) == (
                576, 4, 16, 0.2, 0.3, "sparse", 1)
    ucf = presets.prior_config("ucf101_uncond")  # ucf101_uncond_gpt
    assert (ucf["attn_type"], ucf.get("n_cond_frames", 0), ucf.get("class_cond_dim")) == (
        "sparse", 0, None)
    assert presets.prior_config("ucf101")["class_cond_dim"] == 101
    # Both latents (4x32x32) split into the sparse layout's blocks of 32.
    vqvae = VQVAE(**presets.vqvae_config("bair_stride4x2x2"))
    prior = VideoGPT.from_vqvae(vqvae, **dict(bair, num_layers=1, resnet_blocks=(1, 1, 1, 1)))
    assert prior.blocks[0].attn.layout.block_shape == (4, 32)


# --------------------------------------------------------------- reference parity
@pytest.fixture(scope="module")
def reference_prior():
    vq_path = fixture_path("reference", "vqvae_tiny.npz")
    gpt_path = fixture_path("reference", "gpt_tiny.npz")
    vqvae = convert.vqvae_from_reference(vq_path, downsample=(4, 4, 4), sequence_length=16,
                                         resolution=64)
    prior = convert.prior_from_reference(gpt_path, vqvae, heads=4, attn_type="full")
    return dict(np.load(gpt_path)), prior


def test_reference_teacher_forced_logits(reference_prior):
    data, prior = reference_prior
    assert (prior.hidden_dim, prior.num_layers, prior.latent_shape) == (96, 2, (4, 16, 16))
    assert prior.reference_epsilon
    codes = data["codes"].astype("int32")
    np.testing.assert_allclose(prior.codebook.numpy()[codes], data["inputs_embedded"], atol=1e-6)
    logits = prior(codes, training=False).numpy()
    np.testing.assert_allclose(logits, data["logits"], atol=1e-4)
    loss = float(prior.compute_prior_loss(logits, codes))
    assert loss == pytest.approx(float(data["loss"]), abs=1e-5)


@pytest.fixture(scope="module")
def reference_vqvae():
    return convert.vqvae_from_reference(fixture_path("reference", "vqvae_tiny.npz"),
                                        downsample=(4, 4, 4), sequence_length=16, resolution=64)


@pytest.mark.parametrize("name", ["gpt_frame_cond", "gpt_class_cond", "gpt_sparse"])
def test_reference_conditioned_and_sparse_priors(reference_vqvae, name):
    """Only `heads` is passed: attention, frames and classes are read off the weights."""
    path = fixture_path("reference", f"{name}.npz")
    data = dict(np.load(path))
    prior = convert.prior_from_reference(reference_state(path), reference_vqvae,
                                         num_heads=int(data["config"][1]))
    class_dim = int(data["class_cond_dim"])
    assert prior.attn_type == str(data["attn_type"])
    assert prior.n_cond_frames == int(data["n_cond_frames"])
    assert prior.class_cond_dim == (None if class_dim < 0 else class_dim)
    batch = {"codes": data["codes"].astype("int32")}
    video = np.transpose(data["video"], (0, 2, 3, 4, 1))  # channels last
    if prior.n_cond_frames:
        batch["cond_frames"] = video[:, :prior.n_cond_frames]
    if prior.class_cond_dim:
        batch["label"] = data["label"]
    np.testing.assert_allclose(prior(batch).numpy(), data["logits"], atol=1e-4)


def test_reference_epsilon_matters(reference_prior):
    data, prior = reference_prior
    standard = VideoGPT.from_config(dict(prior.get_config(), reference_epsilon=False))
    standard.set_weights(prior.get_weights())
    logits = standard(data["codes"].astype("int32")).numpy()
    assert np.abs(logits - data["logits"]).max() > 1e-4


def test_prior_key_errors_are_named(reference_prior):
    data, prior = reference_prior
    state = {k[6:]: v for k, v in np.load(fixture_path("reference", "gpt_tiny.npz")).items()
             if k.startswith("state/")}
    del state["attn_stack.attn_nets.1.fc_block.0.bias"]
    vq = VQVAE(**dict(TINY_VQVAE, n_codes=128, embedding_dim=64, sequence_length=16,
                      resolution=64, downsample=(4, 4, 4)))
    with pytest.raises(KeyError, match="attn_stack.attn_nets.1.fc_block.0.bias"):
        convert.prior_from_reference(state, vq, heads=4)


def test_warm_start_gives_the_source_logits_until_trained():
    from keras_videogpt.prior.warm_start import warm_start
    source = VideoGPT(**TINY_PRIOR, attn_type="axial")
    randomize_output(source)
    codes = random_codes()
    prior = VideoGPT(**TINY_PRIOR, attn_type="axial", **FRAME_COND)
    frames = np.random.default_rng(1).uniform(-0.5, 0.5, (2, 1, 8, 8, 3)).astype("float32")
    new = warm_start(prior, source)
    assert new and all("frame_encoder" in k or "cross" in k or "frame" in k for k in new), new
    # The cross-attentions start silent, so the new prior is the source whatever the frames.
    np.testing.assert_allclose(prior({"codes": codes, "cond_frames": frames}).numpy(),
                               source(codes).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="attn_type differ.*only conditioning"):
        warm_start(VideoGPT(**TINY_PRIOR, **FRAME_COND), source)   # full vs axial attention
    with pytest.raises(ValueError, match="grid"):
        warm_start(VideoGPT(**dict(TINY_PRIOR, n_codes=8)), source)
    with pytest.raises(ValueError, match="source is conditioned"):
        warm_start(VideoGPT(**TINY_PRIOR, **FRAME_COND), prior)
