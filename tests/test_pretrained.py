"""Weights files (`keras_videogpt.pretrained`) and presets that load weights."""

import numpy as np
import pytest

import keras_videogpt as kv
from keras_videogpt import presets, pretrained
from tests.conftest import TINY_VQVAE, fixture_path

TINY_PRIOR = dict(hidden_dim=24, num_heads=2, num_layers=1, dropout=0.0, attn_dropout=0.0)


@pytest.fixture
def tiny_presets(monkeypatch):
    """Registers a tiny VQ-VAE and prior preset (no shipped weights) for the test."""
    def tiny_vq():
        """A tiny test VQ-VAE."""
        return dict(TINY_VQVAE)

    def tiny_prior():
        """A tiny test prior."""
        return dict(TINY_PRIOR)

    presets._register(presets._VQVAE, "test_tiny")(tiny_vq)
    presets._register(presets._PRIOR, "test_tiny")(tiny_prior)
    yield
    presets._VQVAE.pop("test_tiny")
    presets._PRIOR.pop("test_tiny")


def _randomise(model, seed):
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if v.dtype.startswith("float") and v is not getattr(model, "codebook", None):
            v.assign(rng.normal(0, 0.5, v.shape).astype(v.dtype))


def test_vqvae_round_trip_in_float16(tmp_path, tiny_presets):
    vqvae = kv.VQVAE.from_preset("test_tiny")
    _randomise(vqvae, 0)
    path = str(tmp_path / "vq.npz")
    meta = pretrained.save_weights(vqvae, path, metadata={"steps": 7})
    loaded = kv.VQVAE.from_preset("test_tiny", weights=path)
    assert meta["class"] == "VQVAE"
    for a, b in zip(vqvae.weights, loaded.weights):
        a, b = np.asarray(a.numpy()), np.asarray(b.numpy())
        # float16 keeps 11 significant bits: a relative error under 2**-11.
        np.testing.assert_allclose(b, a, rtol=2.0 ** -11, atol=1e-7)
    # float32 files are exact.
    pretrained.save_weights(vqvae, path, dtype="float32")
    exact = kv.VQVAE.from_preset("test_tiny", weights=path)
    for a, b in zip(vqvae.weights, exact.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))


def test_float16_keeps_values_beyond_its_range_in_float32(tmp_path, tiny_presets):
    vqvae = kv.VQVAE.from_preset("test_tiny")
    big = vqvae.weights[0]
    big.assign(np.full(big.shape, 1e6, "float32"))
    path = str(tmp_path / "vq.npz")
    pretrained.save_weights(vqvae, path)
    loaded = kv.VQVAE.from_preset("test_tiny", weights=path)
    np.testing.assert_array_equal(np.asarray(loaded.weights[0].numpy()), 1e6)


def test_settings_that_keep_the_shapes_must_match(tmp_path, tiny_presets):
    """Another attention type, head count or downsampling fits the same variables but computes
    something else: the file refuses to load, naming the setting."""
    vqvae = kv.VQVAE.from_preset("test_tiny")
    prior = kv.VideoGPT.from_preset("test_tiny", vqvae)
    path = str(tmp_path / "prior.npz")
    pretrained.save_weights(prior, path)
    other_type = "axial" if prior.attn_type != "axial" else "full"
    with pytest.raises(ValueError, match=f"attn_type='{prior.attn_type}' in the file but "
                                         f"'{other_type}' here"):
        kv.VideoGPT.from_preset("test_tiny", vqvae, weights=path, attn_type=other_type)
    with pytest.raises(ValueError, match="num_heads=.* in the file"):
        kv.VideoGPT.from_preset("test_tiny", vqvae, weights=path,
                                num_heads=prior.num_heads // 2)
    # Dropout changes training, not what the weights mean: it may differ.
    kv.VideoGPT.from_preset("test_tiny", vqvae, weights=path, dropout=0.5)
    vq_path = str(tmp_path / "vq.npz")
    pretrained.save_weights(vqvae, vq_path)
    with pytest.raises(ValueError, match="downsample="):
        kv.VQVAE.from_preset("test_tiny", weights=vq_path, downsample=(2, 2, 1))


def test_prior_round_trip_checks_its_vqvae(tmp_path, tiny_presets):
    vqvae = kv.VQVAE.from_preset("test_tiny")
    prior = kv.VideoGPT.from_preset("test_tiny", vqvae)
    _randomise(prior, 1)
    path = str(tmp_path / "prior.npz")
    pretrained.save_weights(prior, path)
    loaded = kv.VideoGPT.from_preset("test_tiny", vqvae, weights=path)
    codes = np.random.default_rng(0).integers(0, 16, (2,) + vqvae.latent_shape)
    np.testing.assert_allclose(np.asarray(loaded(codes)), np.asarray(prior(codes)), atol=5e-3)
    other = kv.VQVAE.from_preset("test_tiny", seed=5)
    other.quantizer.embeddings.assign(np.asarray(other.quantizer.embeddings) + 1.0)
    with pytest.raises(ValueError, match="another VQ-VAE's codebook"):
        kv.VideoGPT.from_preset("test_tiny", other, weights=path)


def test_mismatched_files_are_refused(tmp_path, tiny_presets):
    vqvae = kv.VQVAE.from_preset("test_tiny")
    path = str(tmp_path / "vq.npz")
    pretrained.save_weights(vqvae, path)
    with pytest.raises(ValueError, match="does not fit this model|variables; this model"):
        kv.VQVAE.from_preset("test_tiny", weights=path, n_hiddens=32)
    prior = kv.VideoGPT.from_preset("test_tiny", vqvae)
    with pytest.raises(ValueError, match="holds the weights of a VQVAE, not a VideoGPT"):
        pretrained.load_weights(prior, path)
    junk = tmp_path / "junk.npz"
    np.savez(junk, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a keras_videogpt weights file"):
        pretrained.load_weights(vqvae, str(junk))
    truncated = tmp_path / "cut.npz"
    truncated.write_bytes(open(path, "rb").read()[:200])
    with pytest.raises(ValueError, match="not a keras_videogpt weights file"):
        pretrained.load_weights(vqvae, str(truncated))
    with pytest.raises(FileNotFoundError, match="No weights file"):
        kv.VQVAE.from_preset("test_tiny", weights=str(tmp_path / "missing.npz"))


def test_presets_without_shipped_weights_say_so(tiny_presets):
    with pytest.raises(ValueError, match="'test_tiny' has no shipped weights.*moving_mnist"):
        kv.VQVAE.from_preset("test_tiny", weights=True)
    with pytest.raises(ValueError, match="no shipped weights"):
        kv.VideoGPT.from_preset("test_tiny", weights=True)
    with pytest.raises(ValueError, match="pass `vqvae`"):
        kv.VideoGPT.from_preset("test_tiny")
    with pytest.raises(ValueError, match="Unknown prior preset 'nope'"):
        kv.VideoGPT.from_preset("nope", kv.VQVAE.from_preset("test_tiny"))


def test_preset_info_and_aliases():
    info = presets.preset_info("vqvae", "moving_mnist")
    assert info["weights"].endswith("moving_mnist_vqvae.npz")
    assert info["description"]
    prior = presets.preset_info("prior", "moving_mnist_frame_cond")
    assert prior["vqvae_preset"] == "moving_mnist" and prior["config"]["n_cond_frames"] == 1
    assert presets.preset_info("prior", "bair_gpt")["name"] == "bair"
    assert presets.preset_info("prior", "tiny")["weights"] is None
    counted = presets.preset_info("prior", "tiny", count_params=True)
    assert counted["vqvae_preset"] == "tiny" and counted["params"] == kv.VideoGPT.from_preset(
        "tiny", kv.VQVAE.from_preset("tiny")).count_params()
    with pytest.raises(ValueError, match="`kind` must be"):
        presets.preset_info("gpt", "tiny")


def test_recipes_are_complete():
    for name in presets.recipes():
        config = presets.recipe(name)
        for stage in ("vqvae", "prior", "prior_frame_cond"):
            assert config[stage]["preset"] in (presets.vqvae_presets() if stage == "vqvae"
                                               else presets.prior_presets())
            assert config[stage]["epochs"] * config[stage]["steps_per_epoch"] > 0
    assert presets.prior_config(presets.recipe("moving_mnist")["prior_frame_cond"]["preset"])[
        "n_cond_frames"] == 1
    with pytest.raises(ValueError, match="Unknown recipe 'nope'"):
        presets.recipe("nope")


def test_reference_checkpoint_through_from_preset():
    """A reference state_dict becomes a preset's model: its sizes come from the weights, the
    clip shape and strides from the preset (a bare state_dict does not record them)."""
    path = fixture_path("reference", "vqvae_tiny.npz")
    expected = kv.convert.vqvae_from_reference(str(path))
    vqvae = kv.VQVAE.from_preset("tiny", weights=str(path))
    assert vqvae.n_res_layers == expected.n_res_layers and vqvae.n_codes == expected.n_codes
    for a, b in zip(expected.weights, vqvae.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))


@pytest.mark.slow
def test_shipped_weights_reproduce_their_model_card():
    """The shipped float16 weights score, on the same held-out clips and seeds, what the run
    that made them recorded in their headers (float32), within float16's noise."""
    from keras_videogpt.evaluation import score_models

    vqvae = kv.VQVAE.from_preset("moving_mnist", weights=True)
    prior = kv.VideoGPT.from_preset("moving_mnist", vqvae, weights=True)
    frame_cond = kv.VideoGPT.from_preset("moving_mnist_frame_cond", vqvae, weights=True)
    meta, _ = pretrained.read_header(presets.shipped_weights("prior", "moving_mnist"))
    card = meta["metadata"]["scores"]
    scores = score_models(vqvae, prior, frame_cond, clips=card["held_out_clips"], fvd_clips=0,
                          seed=card["seed"])
    for name in ("real", "reconstructions", "samples", "continuations"):
        assert abs(scores["digit_score"][name]["score"]
                   - card["digit_score"][name]["score"]) <= 0.1, name
    assert scores["nmse"] == pytest.approx(card["nmse"], rel=0.05)
    for name in ("prior", "prior_frame_cond"):
        assert scores["bits_per_dim"][name] == pytest.approx(card["bits_per_dim"][name], rel=0.02)
        by_step = scores["bits_per_dim_by_latent_step"][name]
        assert len(by_step) == vqvae.latent_shape[0]
        assert np.mean(by_step) == pytest.approx(scores["bits_per_dim"][name], rel=1e-3)


def test_reference_prior_checkpoint_through_from_preset():
    """A reference prior's state_dict loads through a prior preset as through the converter,
    with our argument names accepted for what a bare state_dict does not record."""
    vq_path = fixture_path("reference", "vqvae_tiny.npz")
    gpt_path = str(fixture_path("reference", "gpt_tiny.npz"))
    vqvae = kv.VQVAE.from_preset("tiny", weights=str(vq_path))
    expected = kv.convert.prior_from_reference(gpt_path, vqvae, heads=4, attn_type="full")
    prior = kv.VideoGPT.from_preset("tiny", vqvae, weights=gpt_path, num_heads=4,
                                    attn_type="full")
    assert (prior.num_heads, prior.num_layers) == (expected.num_heads, expected.num_layers)
    for a, b in zip(expected.weights, prior.weights):
        np.testing.assert_array_equal(np.asarray(a.numpy()), np.asarray(b.numpy()))
