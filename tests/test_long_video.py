"""Long videos by a sliding window over latent frames."""

import numpy as np
import pytest

from keras_videogpt import VQVAE, VideoGPT, sample, sample_long
from keras_videogpt.long_video import window_starts
from keras_videogpt.sampling import Sampler, cached_sampler
from tests.conftest import TINY_VQVAE, randomized


def pair(**prior_kwargs):
    vqvae = VQVAE(**TINY_VQVAE)  # 4 frames of 16x16 -> 2x8x8 codes
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1, dropout=0.0,
                                attn_dropout=0.0, **prior_kwargs)
    return vqvae, randomized(prior)


def test_prompts_of_different_lengths_on_one_sampler():
    """One sampler continues a 1-frame prompt, then a 2-frame one, then the 1-frame one again:
    each keeps its prompt and draws greedily after it (a prompt's length is static in the loop,
    so a second length once failed inside TF)."""
    prior = randomized(VideoGPT(latent_shape=(3, 4, 4), n_codes=16, embedding_dim=8,
                                hidden_dim=24, num_heads=2, num_layers=1, dropout=0.0,
                                attn_dropout=0.0))
    sampler = Sampler(prior)
    prefix = np.random.default_rng(2).integers(0, 16, (2, 2, 4, 4))
    first = sampler.continue_codes(prefix[:, :1], seed=0, top_k=1).numpy()
    for k, codes in ((1, first), (2, sampler.continue_codes(prefix, seed=0, top_k=1).numpy())):
        np.testing.assert_array_equal(codes[:, :k], prefix[:, :k])
        greedy = np.asarray(prior(codes)).argmax(-1)
        np.testing.assert_array_equal(codes[:, k:], greedy[:, k:])
    np.testing.assert_array_equal(
        sampler.continue_codes(prefix[:, :1], seed=0, top_k=1).numpy(), first)


def test_first_window_is_the_ordinary_sample_and_windows_overlap():
    vqvae, prior = pair()
    out = sample_long(prior, vqvae, num_frames=8, batch_size=2, seed=3, context=1)
    assert out["windows"] == [(0, 2), (1, 3), (2, 4)]
    assert out["codes"].shape == (2, 4, 8, 8) and out["video"].shape == (2, 8, 16, 16, 3)
    assert out["video_uint8"].dtype == np.uint8
    first = sample(prior, vqvae, batch_size=2, seed=3)["codes"].numpy()
    np.testing.assert_array_equal(out["codes"][:, :2], first)
    # The same call draws the same long video; windows draw afresh, so frames differ.
    again = sample_long(prior, vqvae, num_frames=8, batch_size=2, seed=3, context=1)
    np.testing.assert_array_equal(again["codes"], out["codes"])
    assert not np.array_equal(out["codes"][:, 2], out["codes"][:, 1])


def test_a_window_keeps_its_prompt_and_continues_it_as_the_prior_would():
    vqvae, prior = pair()
    sampler = cached_sampler(prior, vqvae)
    prefix = np.random.default_rng(1).integers(0, 16, (2, 1, 8, 8))
    # Greedy (top_k=1): every drawn code is the argmax of the teacher-forced logits.
    codes = sampler.continue_codes(prefix, seed=0, top_k=1, draw_offset=7).numpy()
    np.testing.assert_array_equal(codes[:, :1], prefix)
    logits = np.asarray(prior(codes))
    np.testing.assert_array_equal(codes[:, 1:], logits.argmax(-1)[:, 1:])
    # The prompt's 64 positions cross the first segment's end (51): the same window.
    segmented = Sampler(prior, vqvae, segments=5)
    assert segmented.segment_ends[0] < 64
    np.testing.assert_array_equal(
        segmented.continue_codes(prefix, seed=0, top_k=1, draw_offset=7).numpy(), codes)


def test_frame_conditioned_windows_take_the_first_or_the_latest_frame():
    vqvae, prior = pair(n_cond_frames=1, resnet_blocks=(1, 1, 1, 1), resnet_width=4,
                        resnet_dim=12)
    frames = np.random.default_rng(2).integers(0, 256, (1, 1, 16, 16, 3)).astype("uint8")
    first = sample_long(prior, vqvae, 8, seed=1, context=1, cond_frames=frames)
    latest = sample_long(prior, vqvae, 8, seed=1, context=1, cond_frames=frames,
                         window_condition="latest")
    np.testing.assert_array_equal(first["codes"][:, :2], latest["codes"][:, :2])
    assert first["video"].shape == latest["video"].shape == (1, 8, 16, 16, 3)


def test_bad_lengths_and_settings_are_refused():
    vqvae, prior = pair()
    with pytest.raises(ValueError, match="multiple of 2 .* at least the trained 4; got 7"):
        sample_long(prior, vqvae, 7)
    with pytest.raises(ValueError, match="at least the trained 4; got 2"):
        sample_long(prior, vqvae, 2)
    with pytest.raises(ValueError, match="whole number"):
        sample_long(prior, vqvae, 8.5)
    with pytest.raises(ValueError, match=r"context must be in \[1, 1\]"):
        sample_long(prior, vqvae, 8, context=2)
    with pytest.raises(ValueError, match="window_condition must be"):
        sample_long(prior, vqvae, 8, window_condition="middle")
    with pytest.raises(ValueError, match="use a total of 4 \\+ k \\* 2 latent frames"):
        window_starts(7, 4, 2)
    with pytest.raises(ValueError, match=r"prefix must be int codes \[batch, k, 8, 8\]"):
        cached_sampler(prior, vqvae).continue_codes(np.zeros((1, 2, 8, 8), "int32"))
