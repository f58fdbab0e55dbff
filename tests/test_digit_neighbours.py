"""The nearest-digit judge: real digits count; blank frames, noise and cut digits do not."""

import numpy as np
import pytest

from keras_videogpt.data.moving_mnist import digit_split, generate_moving_mnist
from keras_videogpt.metrics.digit_neighbours import NearestDigitJudge


@pytest.fixture(scope="module")
def judge():
    return NearestDigitJudge()


def _frames_with(digits, top, left):
    """One-frame uint8 clips [N, 1, 64, 64, 3] with each digit pasted at (top, left)."""
    frames = np.zeros((len(digits), 1, 64, 64, 3), "uint8")
    for i, digit in enumerate(digits):
        window = frames[i, 0, top:top + 28, left:left + 28]
        rows = min(28, 64 - top)
        window[:rows] = digit[:rows, :, None]
    return frames


def test_unseen_real_digits_count(judge):
    digits, _ = digit_split("test")
    picked = digits[::10]  # 100 digits, every class
    # 95% are as close to their neighbours as a counted window must be; most of those agree.
    assert judge.score(_frames_with(picked, 18, 10))["score"] >= 0.8


def test_blank_noise_and_cut_digits_do_not_count(judge):
    rng = np.random.default_rng(0)
    blank = np.zeros((2, 4, 64, 64, 3), "uint8")
    noise = (rng.uniform(size=(2, 4, 64, 64, 1)) < 0.2).astype("uint8").repeat(3, -1) * 255
    digits, _ = digit_split("test")
    cut = _frames_with(digits[::100], 56, 20)  # only a digit's top 8 rows fit in the frame
    for name, videos in (("blank", blank), ("noise", noise), ("cut", cut)):
        result = judge.score(videos)
        assert result["score"] == 0.0, name
        assert result["frames"] == videos.shape[0] * videos.shape[1]


def test_real_clips_score_between_the_judges_goal_and_all(judge):
    clips = generate_moving_mnist(8, seed=1, split="test")
    # Crossing digits and digits at the frame's edge fail, so real clips stay below 1.
    assert 0.6 <= judge.score(clips)["score"] < 1.0


def test_bad_arguments_are_refused(judge):
    with pytest.raises(ValueError, match="votes must be in"):
        NearestDigitJudge(k=5, votes=6)
    with pytest.raises(ValueError, match="at least 28x28"):
        judge.score(np.zeros((1, 2, 16, 16, 3), "uint8"))
