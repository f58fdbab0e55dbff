import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from conftest import fixture_path
from keras_videogpt.metrics import FeatureStats, frechet_distance, nmse, preprocess
from keras_videogpt.metrics.fvd import fvd
from keras_videogpt.metrics.i3d import (load_i3d, packaged_weights_path,
                                        read_weights_pickle)


def scipy_frechet(a, b):
    a, b = a.astype("float64"), b.astype("float64")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_a @ s_b).real
    return ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * covmean)


def test_frechet_matches_scipy(rng):
    a = rng.normal(size=(300, 16))
    b = rng.normal(size=(250, 16)) * 1.5 + 0.3
    assert frechet_distance(a, b) == pytest.approx(scipy_frechet(a, b), rel=1e-6)


def test_frechet_of_a_set_with_itself_is_zero_and_permutation_invariant(rng):
    a = rng.normal(size=(200, 8))
    b = rng.normal(size=(150, 8)) + 1
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    d = frechet_distance(a, b)
    assert frechet_distance(a[rng.permutation(200)], b[rng.permutation(150)]) == pytest.approx(
        d, rel=1e-10)
    # Closed form for isotropic Gaussians with equal covariance: |mu_a - mu_b|^2.
    big_a, big_b = rng.normal(size=(20000, 2)), rng.normal(size=(20000, 2)) + [3.0, 4.0]
    assert frechet_distance(big_a, big_b) == pytest.approx(25.0, rel=0.02)


def test_streaming_equals_one_shot(rng):
    a, b = rng.normal(size=(500, 12)), rng.normal(size=(400, 12)) * 2
    stats = FeatureStats()
    for chunk in np.array_split(a, 7):
        stats.update(chunk)
    np.testing.assert_allclose(stats.mean, a.mean(0), atol=1e-12)
    np.testing.assert_allclose(stats.covariance(), np.cov(a, rowvar=False), atol=1e-12)
    assert frechet_distance(stats, b) == pytest.approx(frechet_distance(a, b), rel=1e-10)


def test_frechet_bad_input(rng):
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(rng.normal(size=(1, 4)), rng.normal(size=(10, 4)))
    with pytest.raises(ValueError, match="widths differ"):
        frechet_distance(rng.normal(size=(10, 4)), rng.normal(size=(10, 5)))
    with pytest.warns(UserWarning, match="singular"):
        frechet_distance(rng.normal(size=(5, 8)), rng.normal(size=(5, 8)))


def test_resize_is_tf1_bilinear_without_half_pixel_centres():
    # TF1 resize_bilinear (align_corners=False, half_pixel_centers=False) samples source
    # position dst * (in / out); check against that closed form on a ramp.
    ramp = np.tile(np.arange(0, 250, 2, dtype=np.uint8)[None, :], (4, 1))  # 4x125
    video = np.repeat(ramp[None, None, :, :, None], 3, -1)
    out = preprocess(video).numpy()[0, 0, 0, :, 0]
    src = np.arange(224) * (125 / 224)
    lo = np.floor(src).astype(int)
    hi = np.minimum(lo + 1, 124)
    expected = ramp[0, lo] + (ramp[0, hi].astype(float) - ramp[0, lo]) * (src - lo)
    np.testing.assert_allclose(out, 2 * expected / 255 - 1, atol=1e-5)
    half_pixel = tf.image.resize(video[0].astype("float32"), (224, 224)).numpy()[0, 0, :, 0]
    assert np.abs((2 * half_pixel / 255 - 1) - out).max() > 2e-3  # a different op (~0.44 grey levels here)


def test_fvd_input_checks():
    clips = np.zeros((2, 8, 32, 32, 3), "uint8")
    with pytest.raises(TypeError, match="uint8"):
        fvd(lambda x: x, clips.astype("float32"), clips)
    with pytest.raises(ValueError, match="same length"):
        fvd(lambda x: x, clips, np.zeros((2, 9, 32, 32, 3), "uint8"))
    with pytest.raises(ValueError, match="batch, frames"):
        fvd(lambda x: x, clips[..., :1], clips[..., :1])


def test_fvd_streams_in_batches_like_one_shot(rng):
    # A cheap stand-in embedding (mean colour per frame) exercises batching and streaming.
    embed = lambda x: tf.reshape(tf.reduce_mean(x, axis=(2, 3)), (tf.shape(x)[0], -1))
    a = rng.integers(0, 256, (10, 4, 16, 16, 3)).astype("uint8")
    b = rng.integers(0, 200, (9, 4, 16, 16, 3)).astype("uint8")
    assert fvd(embed, a, b, batch_size=3) == pytest.approx(
        fvd(embed, a, b, batch_size=100), rel=1e-9)


def test_default_i3d_batch_fits_the_memory_budget():
    from keras_videogpt.metrics.fvd import default_batch_size

    # 4 MiB per frame: 2 GiB holds 32 clips of 16 frames, 6 of 79, and always at least 1.
    assert default_batch_size(16) == 32 and default_batch_size(79) == 6
    assert default_batch_size(10_000) == 1 and default_batch_size(16, budget_mb=256) == 4


def test_nmse_closed_form(rng):
    x = rng.normal(size=(100,))
    assert nmse(x, x) == 0
    assert nmse(x, np.full_like(x, x.mean())) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="Shapes differ"):
        nmse(x, x[:5])


def test_weights_pickle_refuses_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "evil.ckpt"
    path.write_bytes(pickle.dumps({"params": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        read_weights_pickle(str(path))


def test_unreachable_hub_handle_names_it(tmp_path):
    with pytest.raises(RuntimeError, match="nowhere/i3d.*local SavedModel"):
        load_i3d(str(tmp_path / "nowhere" / "i3d"))


@pytest.fixture(scope="module")
def cricket():
    path = fixture_path("i3d", "v_CricketShot_g04_c01_rgb.gif")
    frames = tf.io.decode_gif(tf.io.read_file(str(path))).numpy()
    labels = fixture_path("i3d", "label_map.txt").read_text().split("\n")
    return frames, labels


@pytest.fixture(scope="module")
def i3d():
    return load_i3d(offline=True)


def test_offline_i3d_ranks_playing_cricket_first_on_16_frames(cricket, i3d):
    frames, labels = cricket
    logits = i3d(frames[None, :16].astype("float32") / 127.5 - 1).numpy()[0]
    order = np.argsort(-logits)
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert labels[order[0]] == "playing cricket" and labels[order[1]] == "archery"
    assert probs[order[0]] == pytest.approx(0.9561, abs=2e-3)
    assert logits[order[0]] == pytest.approx(14.95, abs=1e-2)
    assert logits[order[1]] == pytest.approx(10.61, abs=1e-2)


@pytest.mark.slow
def test_offline_i3d_on_all_79_frames(cricket, i3d):
    frames, labels = cricket
    logits = i3d(frames[None].astype("float32") / 127.5 - 1).numpy()[0]
    order = np.argsort(-logits)
    assert labels[order[0]] == "playing cricket" and labels[order[1]] == "robot dancing"
    assert logits[order[0]] == pytest.approx(17.64, abs=1e-2)
    assert logits[order[1]] == pytest.approx(12.16, abs=1e-2)


def test_packaged_weights_read_as_numpy_in_tf_layout():
    from keras_videogpt.metrics.i3d import read_weights_pickle

    path = packaged_weights_path()
    assert path.endswith("i3d-kinetics-400.ckpt")
    params = read_weights_pickle(path)["params"]
    # TF Conv3D layout [T, H, W, in, out]; BatchNorm without scale (only bias, mean, var).
    assert params["Conv3d_1a_7x7"]["Conv_0"]["kernel"].shape == (7, 7, 7, 3, 64)
    assert "scale" not in params["Conv3d_1a_7x7"]["BatchNorm_0"]
    kernels = []
    walk = lambda d: [walk(v) if isinstance(v, dict) else kernels.append((k, v.shape))
                      for k, v in d.items()]
    walk(params)
    assert ("kernel", (1, 1, 1, 192, 64)) in kernels and len(kernels) > 50


def test_exported_i3d_serves_through_hub_load(tmp_path, cricket, i3d):
    from keras_videogpt.metrics.i3d import export_i3d

    out = export_i3d(str(tmp_path / "i3d"))
    served = load_i3d(out)  # the TF-Hub code path, on the local SavedModel
    assert served.source == out
    frames, _ = cricket
    rgb = frames[None, :8].astype("float32") / 127.5 - 1
    np.testing.assert_allclose(served(rgb).numpy(), i3d(rgb).numpy(), atol=1e-4)
    import tensorflow_hub as hub

    logits = hub.load(out).signatures["default"](tf.constant(rgb))["default"]
    assert logits.shape == (1, 400)


def test_code_usage_counts_and_perplexity_in_closed_form():
    from keras_videogpt.metrics import CodeUsageStats

    stats = CodeUsageStats(8).update(np.array([[0, 1], [2, 3]])).update(np.array([0, 1, 2, 3]))
    result = stats.result()
    assert result["codes_used"] == 4 and result["n_codes"] == 8
    np.testing.assert_allclose(result["perplexity"], 4.0)  # 4 codes, equally frequent
    assert CodeUsageStats(3).update([1, 1, 1]).result()["perplexity"] == 1.0
    with pytest.raises(ValueError, match=r"Codes must be in \[0, 3\)"):
        CodeUsageStats(3).update([3])
    with pytest.raises(ValueError, match="no codes"):
        CodeUsageStats(3).result()


def test_bits_per_dim_streams_like_one_batch_and_is_log2_codes_for_a_uniform_prior():
    from keras_videogpt import VideoGPT
    from keras_videogpt.metrics import BitsPerDimStats

    prior = VideoGPT(latent_shape=(2, 2, 2), n_codes=16, embedding_dim=4, hidden_dim=12,
                     num_heads=2, num_layers=1)
    codes = np.random.default_rng(0).integers(0, 16, (6, 2, 2, 2))
    # fc_out starts at zero: every code has probability 1/16, so 4 bits per code.
    np.testing.assert_allclose(BitsPerDimStats().update(prior, codes).result(), 4.0, rtol=1e-6)
    prior.fc_out.kernel.assign(np.random.default_rng(1).normal(0, 1, prior.fc_out.kernel.shape))
    whole = BitsPerDimStats().update(prior, codes).result()
    parts = BitsPerDimStats().update(prior, codes[:2]).update(prior, codes[2:]).result()
    np.testing.assert_allclose(parts, whole, rtol=1e-5)
    with pytest.raises(ValueError, match="no codes"):
        BitsPerDimStats().result()


def test_bits_per_dim_by_latent_step_closed_form():
    from keras_videogpt.metrics import BitsPerDimStats

    # 3 latent steps of 2x2 codes out of 8: step 0 uniform (3 bits), step 1 certain of the
    # right code (0 bits), step 2 even odds between the right code and one other (1 bit).
    codes = np.random.default_rng(0).integers(0, 8, (4, 3, 2, 2))
    logits = np.zeros(codes.shape + (8,), "float32")
    right = np.eye(8, dtype=bool)[codes]
    logits[:, 1][right[:, 1]] = 60.0
    logits[:, 2] = -60.0
    logits[:, 2][right[:, 2]] = 0.0
    logits[:, 2][np.eye(8, dtype=bool)[(codes[:, 2] + 1) % 8]] = 0.0
    stats = BitsPerDimStats().update(None, codes[:1], logits[:1]).update(None, codes[1:],
                                                                          logits[1:])
    np.testing.assert_allclose(stats.by_latent_step(), [3.0, 0.0, 1.0], atol=1e-5)
    np.testing.assert_allclose(stats.result(), 4.0 / 3, atol=1e-5)  # the mean of the steps
    with pytest.raises(ValueError, match="one BitsPerDimStats per latent grid"):
        stats.update(None, codes[:, :2], logits[:, :2])
    with pytest.raises(ValueError, match="do not match codes"):
        BitsPerDimStats().update(None, codes, logits[:, :2])
    with pytest.raises(ValueError, match="by latent step got no codes"):
        BitsPerDimStats().update_nll(1.0, 10).by_latent_step()
