"""The digit score: real Moving MNIST frames hold digits, blank frames and fine noise do not."""

import numpy as np
import pytest

from keras_videogpt.data.moving_mnist import DIGIT_SPLITS, digit_split, generate_moving_mnist
from keras_videogpt.metrics.digits import digit_score, train_digit_classifier


@pytest.fixture(scope="module")
def classifier():
    return train_digit_classifier(epochs=4)


def test_digit_splits_are_disjoint_fixed_and_hold_every_class():
    assert sorted(DIGIT_SPLITS.values()) == [(0.0, 0.6), (0.6, 0.8), (0.8, 1.0)]
    splits = {name: digit_split(name) for name in DIGIT_SPLITS}
    assert [len(splits[n][0]) for n in ("train", "test", "classifier")] == [3000, 1000, 1000]
    for name, (_, labels) in splits.items():  # the packaged file is sorted by label
        assert np.bincount(labels, minlength=10).min() >= 0.1 * len(labels) - 1, name
    seen = [set(map(bytes, x)) for x, _ in splits.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
    test = splits["test"][0]
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
