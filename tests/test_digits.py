"""The digit score: real Moving MNIST frames hold digits, blank frames and fine noise do not."""

import numpy as np
import pytest

from keras_videogpt.data.moving_mnist import DIGIT_SPLITS, digit_split, generate_moving_mnist
from keras_videogpt.metrics.digits import digit_score, train_digit_classifier


@pytest.fixture(scope="module")
def classifier():
    return train_digit_classifier(epochs=4)


def test_digit_splits_are_disjoint_and_fixed():
    bounds = sorted(DIGIT_SPLITS.values())
    assert bounds == [(0, 3000), (3000, 4000), (4000, 5000)]
    train, test = digit_split("train")[0], digit_split("test")[0]
    assert len(train) == 3000 and len(test) == 1000
    assert not set(map(bytes, train[:200])) & set(map(bytes, test))
    with pytest.raises(ValueError, match="Unknown digit split 'val'"):
        digit_split("val")
    # Held-out clips show only held-out digits.
    clip = generate_moving_mnist(1, sequence_length=1, resolution=28, num_digits=1, seed=3,
                                 split="test")[0, 0, :, :, 0]
    assert any(np.array_equal(clip, d) for d in test)


def test_real_frames_score_high_and_blank_or_noisy_frames_do_not(classifier):
    assert classifier.held_out_accuracy > 0.9
    real = generate_moving_mnist(4, split="test", seed=1)
    assert digit_score(real, classifier)["score"] >= 0.9
    blank = np.zeros((2, 4, 64, 64, 3), "uint8")
    assert digit_score(blank, classifier)["score"] == 0.0
    rng = np.random.default_rng(0)
    fine = (rng.uniform(0, 1, (2, 4, 32, 32, 1)) > 0.7) * 200
    fine = np.kron(fine, np.ones((1, 1, 2, 2, 3))).astype("uint8")
    assert digit_score(fine, classifier)["score"] <= 0.1
    report = digit_score(real[:1, :2], classifier)
    assert report["frames"] == 2 and 0 <= report["mean_best_confidence"] <= 1
    with pytest.raises(ValueError, match="at least 28x28"):
        digit_score(np.zeros((1, 1, 16, 16, 3), "uint8"), classifier)
