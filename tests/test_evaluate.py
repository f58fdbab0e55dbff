"""train.evaluate: the FVD / R-FVD / NMSE / bits-per-dim report, with a cheap stand-in I3D.

The real I3D is checked in test_metrics.py; here a mean-colour-per-frame
embedding (12-d for 4 frames) keeps the plumbing test fast.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VQVAE
from keras_videogpt import VQVAE, VideoGPT
from keras_videogpt.metrics.i3d import I3D
from test_prior import randomize_output
from keras_videogpt.evaluation import evaluate, format_report


def stand_in_i3d():
    calls = []

    def embed(rgb):
        calls.append(rgb.shape)
        return tf.reshape(tf.reduce_mean(rgb, axis=(2, 3)), (tf.shape(rgb)[0], -1))

    i3d = I3D(embed, "stand-in:mean-colour")
    i3d.calls = calls
    return i3d


@pytest.fixture(scope="module")
def pair():
    # Moving MNIST needs frames of at least 28 pixels (one digit).
    vqvae = VQVAE(**dict(TINY_VQVAE, resolution=32, downsample=(2, 4, 4)))
    vqvae(np.zeros((1,) + vqvae.video_shape, "float32"))
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1)
    randomize_output(prior)
    return vqvae, prior


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_report_counts_and_numbers(pair):
    vqvae, prior = pair
    i3d = stand_in_i3d()
    report = evaluate(vqvae, prior, num_clips=6, trials=2, i3d=i3d, batch_size=4, seed=3,
                      verbose=False)
    # 6 clips round up to whole batches of 4.
    assert report["num_clips"] == {"real": 8, "generated": 8, "reconstructed": 8}
    assert report["i3d"] == "stand-in:mean-colour" and report["clip_length"] == 4
    assert report["resolution"] == [32, 32] and "half_pixel_centers=False" in report[
        "resize_method"]
    # Every I3D call sees frames resized to 224x224.
    assert {tuple(s[2:]) for s in i3d.calls} == {(224, 224, 3)}
    # 2 trials x (real + generated) + reconstructions, 8 clips each.
    assert sum(s[0] for s in i3d.calls) == 8 * 5
    fvds = report["fvd"]["per_trial"]
    assert len(fvds) == 2 and fvds[0] != fvds[1] and all(f > 0 for f in fvds)
    assert report["fvd"]["mean"] == pytest.approx(np.mean(fvds))
    assert report["fvd"]["std"] == pytest.approx(np.std(fvds))
    assert report["rfvd"] > 0 and 0 < report["nmse"] < 10
    assert 0 < report["bits_per_dim"] < 20
    assert 1 <= report["codes_used"] <= 16
    text = format_report(report)
    assert "8 real vs 8 generated clips of 4 frames, 2 trial(s)" in text
    assert "stand-in:mean-colour" in text


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_same_seed_same_report_and_no_prior(pair):
    vqvae, prior = pair
    a = evaluate(vqvae, prior, num_clips=4, i3d=stand_in_i3d(), batch_size=4, verbose=False)
    b = evaluate(vqvae, prior, num_clips=4, i3d=stand_in_i3d(), batch_size=4, verbose=False)
    assert a["fvd"] == b["fvd"] and a["rfvd"] == b["rfvd"] and a["nmse"] == b["nmse"]
    recon_only = evaluate(vqvae, None, num_clips=4, i3d=stand_in_i3d(), batch_size=4,
                          verbose=False)
    assert "fvd" not in recon_only and recon_only["num_clips"]["generated"] == 0
    assert recon_only["rfvd"] == a["rfvd"]
    # A fresh prior's fc_out is zero, so it is uniform over the 16 codes: exactly 4 bits/dim.
    uniform = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1)
    report = evaluate(vqvae, uniform, num_clips=4, i3d=stand_in_i3d(), batch_size=4,
                      verbose=False)
    assert report["bits_per_dim"] == pytest.approx(math.log2(16), rel=1e-5)
    steps = report["bits_per_dim_by_latent_step"]
    assert len(steps) == vqvae.latent_shape[0]
    np.testing.assert_allclose(steps, math.log2(16), rtol=1e-5)
    assert "by latent time step: 4.000" in format_report(report)


def test_too_few_clips_is_refused(pair):
    vqvae, prior = pair
    with pytest.raises(ValueError, match="num_clips >= 2"):
        evaluate(vqvae, prior, num_clips=1, i3d=stand_in_i3d(), verbose=False)


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_frame_conditioned_prior_continues_the_real_clips(pair):
    vqvae, _ = pair
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1, n_cond_frames=1)
    randomize_output(prior)
    report = evaluate(vqvae, prior, num_clips=4, i3d=stand_in_i3d(), batch_size=4,
                      verbose=False)
    assert report["fvd"]["mean"] > 0 and 0 < report["bits_per_dim"] < 20


def recording_i3d():
    """A stand-in I3D that keeps the features of every call, in order."""
    i3d = stand_in_i3d()
    features, embed = [], i3d._fn

    def record(rgb):
        out = embed(rgb)
        features.append(np.asarray(out))
        return out

    i3d._fn, i3d.features = record, features
    return i3d


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_fvd_fvd_star_and_rfvd_compare_the_right_sets(pair):
    from keras_videogpt.metrics.frechet import FeatureStats, frechet_distance

    vqvae, prior = pair
    i3d = recording_i3d()
    report = evaluate(vqvae, prior, num_clips=8, i3d=i3d, batch_size=8, verbose=False,
                      i3d_batch_size=8)
    real, recon, fake = i3d.features  # one batch: real clips, reconstructions, samples
    stats = []
    for features in (real, recon, fake):
        s = FeatureStats()
        s.update(features)
        stats.append(s)
    assert report["fvd"]["mean"] == pytest.approx(frechet_distance(stats[0], stats[2]))
    assert report["fvd_star"]["mean"] == pytest.approx(frechet_distance(stats[1], stats[2]))
    assert report["rfvd"] == pytest.approx(frechet_distance(stats[0], stats[1]))
    assert "FVD* " in format_report(report) and "the prior alone" in format_report(report)


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_held_out_split_by_default_and_recorded(pair):
    vqvae, _ = pair
    held_out, train = recording_i3d(), recording_i3d()
    a = evaluate(vqvae, None, num_clips=4, i3d=held_out, batch_size=4, verbose=False)
    b = evaluate(vqvae, None, num_clips=4, i3d=train, batch_size=4, verbose=False,
                 split="train")
    assert (a["split"], b["split"]) == ("test", "train")
    assert not np.allclose(held_out.features[0], train.features[0])  # other clips
    with pytest.raises(ValueError, match="split must be 'test' or 'train'"):
        evaluate(vqvae, None, num_clips=4, i3d=stand_in_i3d(), split="val", verbose=False)


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_protocol_flags_a_run_with_too_few_clips(pair):
    vqvae, _ = pair
    report = evaluate(vqvae, None, num_clips=4, i3d=stand_in_i3d(), batch_size=4,
                      verbose=False, protocol="videogpt")
    assert report["protocol"]["name"] == "videogpt" and not report["protocol"]["comparable"]
    assert report["protocol"]["not_comparable_because"] == ["4 clips per trial < 256"]
    assert "protocol videogpt: NOT comparable: 4 clips per trial < 256" in format_report(report)
    styled = evaluate(vqvae, None, num_clips=4, i3d=stand_in_i3d(), batch_size=4,
                      verbose=False, protocol="stylegan-v")
    assert "clips of 4 frames, not 16" in styled["protocol"]["not_comparable_because"]
    with pytest.raises(ValueError, match="Unknown FVD protocol 'fid'"):
        evaluate(vqvae, None, num_clips=4, i3d=stand_in_i3d(), protocol="fid", verbose=False)


@pytest.mark.filterwarnings("ignore:.*covariance is singular")
def test_statistics_cache_hits_misses_and_changes_key(pair, tmp_path):
    vqvae, prior = pair
    cache = str(tmp_path / "stats")

    def run(**kwargs):
        i3d = recording_i3d()
        args = dict(num_clips=4, batch_size=4, verbose=False, stats_cache=cache)
        args.update(kwargs)
        return evaluate(vqvae, prior, i3d=i3d, **args), len(i3d.features)

    first, calls_first = run()
    assert first["stats_cache"] == {"reconstructions": "miss", "real": ["miss"]}
    assert calls_first == 3  # real clips, reconstructions, samples
    second, calls_second = run()
    assert second["stats_cache"] == {"reconstructions": "hit", "real": ["hit"]}
    assert calls_second == 1  # only the samples go through I3D
    for name in ("fvd", "fvd_star"):
        assert second[name]["mean"] == pytest.approx(first[name]["mean"], rel=1e-9)
    assert second["rfvd"] == pytest.approx(first["rfvd"], rel=1e-9)
    # Another split, or a VQ-VAE with other weights, is another key.
    other_split, _ = run(split="train")
    assert other_split["stats_cache"] == {"reconstructions": "miss", "real": ["miss"]}
    changed = VQVAE.from_config(vqvae.get_config())
    changed.set_weights([w * 1.01 for w in vqvae.get_weights()])
    other_model = evaluate(changed, None, num_clips=4, batch_size=4, verbose=False,
                           i3d=recording_i3d(), stats_cache=cache)
    assert other_model["stats_cache"] == {"reconstructions": "miss", "real": ["hit"]}
