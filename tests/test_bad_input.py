"""Inputs that used to do harm silently, or end in a raw traceback, now get a clear error."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VQVAE
from keras_videogpt import VQVAE, VideoGPT, sampling
from test_prior import TINY_PRIOR, random_codes, randomize_output


@pytest.fixture(scope="module")
def vqvae():
    return VQVAE(**TINY_VQVAE)


@pytest.fixture(scope="module")
def class_prior():
    prior = VideoGPT(**TINY_PRIOR, class_cond_dim=3)
    randomize_output(prior)
    return prior


def clip(vqvae, value=0.0):
    return np.full((1,) + vqvae.video_shape, value, "float32")


@pytest.mark.parametrize("value, message", [
    (np.nan, "holds .* NaN or infinite values"),
    (np.inf, "holds .* NaN or infinite values"),
    (200.0, r"must lie in \[-0.5, 0.5\].*looks like pixels in 0..255: pass uint8"),
    (-3.0, r"range\); got values from -3 to 0\.$"),
])
def test_encode_refuses_non_finite_and_out_of_range_floats(vqvae, value, message):
    video = clip(vqvae)
    video[0, 0, 0, 0, 0] = value
    with pytest.raises(ValueError, match=message):
        vqvae.encode(video)
    codes = vqvae.encode(video, check_inputs=False)  # opting out computes as before
    assert codes.shape == (1,) + vqvae.latent_shape


def test_encode_takes_a_python_list_and_uint8(vqvae):
    as_list = clip(vqvae).tolist()
    np.testing.assert_array_equal(vqvae.encode(as_list).numpy(),
                                  vqvae.encode(clip(vqvae)).numpy())
    pixels = np.full((1,) + vqvae.video_shape, 128, "uint8")
    assert vqvae.encode(pixels).shape == (1,) + vqvae.latent_shape


def test_out_of_range_codes_fail_inside_a_graph(vqvae):
    prior = VideoGPT(**TINY_PRIOR)
    bad = np.full((1, 2, 3, 4), 99, "int32")

    @tf.function
    def logits(codes):
        return prior(codes)

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Codes must lie in \[0, 16\)"):
        logits(tf.constant(bad))
    decode = tf.function(vqvae.decode)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"Codes must lie in \[0, 16\)"):
        decode(tf.constant(np.full((1,) + vqvae.latent_shape, -1, "int32")))


@pytest.mark.parametrize("label, error, message", [
    (np.array([0, 4]), ValueError,
     r"label must be a class in \[0, 3\) or the null class 3; got values from 0 to 4"),
    (np.array([-1, 0]), ValueError, r"label must be a class in \[0, 3\)"),
    (np.array(1), ValueError, r"label must be int \[batch\]"),
    (np.array([0.0, 1.0]), TypeError, "label must hold integer class ids"),
])
def test_labels_outside_the_classes_are_refused(class_prior, label, error, message):
    with pytest.raises(error, match=message):
        class_prior({"codes": random_codes(), "label": label})
    with pytest.raises(error, match=message):
        sampling.sample(class_prior, batch_size=2, label=label)


def test_a_label_for_an_unconditional_prior_is_refused():
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(ValueError, match="not class-conditional"):
        sampling.sample(prior, batch_size=1, label=np.array([0]))


@pytest.mark.parametrize("seed, error, message", [
    (2 ** 32, ValueError, r"integer in \[0, 2\*\*32\)"),
    (-1, ValueError, r"integer in \[0, 2\*\*32\)"),
    ([0, 2 ** 32 + 5], ValueError, r"integer in \[0, 2\*\*32\)"),
    (1.5, ValueError, "seed must hold whole numbers"),
    (None, TypeError, "seed must be an int"),
    ("7", TypeError, "seed must be an int"),
])
def test_seeds_that_would_wrap_or_truncate_are_refused(seed, error, message):
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(error, match=message):
        sampling.Sampler(prior).sample_codes(1, seed=seed)
    with pytest.raises(error, match=message):
        sampling.naive_sample_codes(prior, 1, seed=seed, steps=1)


@pytest.mark.parametrize("batch_size", [0, 2.7, -1, True])
def test_batch_size_must_be_whole_and_positive(batch_size):
    prior = VideoGPT(**TINY_PRIOR)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        sampling.Sampler(prior).sample_codes(batch_size)


def test_whole_float_seeds_and_batch_sizes_still_work():
    prior = VideoGPT(**TINY_PRIOR)
    randomize_output(prior)
    sampler = sampling.Sampler(prior)
    np.testing.assert_array_equal(sampler.sample_codes(2.0, seed=3.0).numpy(),
                                  sampler.sample_codes(2, seed=3).numpy())


@pytest.mark.parametrize("make, message", [
    (lambda: VQVAE(**dict(TINY_VQVAE, n_codes=0)), "n_codes must be >= 1; got 0"),
    (lambda: VideoGPT(**dict(TINY_PRIOR, num_heads=0)), "num_heads must be >= 1; got 0"),
    (lambda: VideoGPT(**dict(TINY_PRIOR, n_codes=-3)), "n_codes must be >= 1; got -3"),
])
def test_sizes_below_one_are_named(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_truncated_keras_file_is_called_damaged(vqvae, tmp_path):
    from keras_videogpt import checkpoints

    path = tmp_path / "vqvae.keras"
    vqvae.save(path)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match="is damaged or not a .keras file"):
        checkpoints.load_vqvae(str(path))


def test_data_flags_that_cannot_work_are_named(tmp_path):
    from keras_videogpt.data import sources

    with pytest.raises(FileNotFoundError, match="looks like a path, but nothing exists there"):
        sources.video_source(str(tmp_path / "no" / "clips"), 2, 4, 16)
    with pytest.raises(ValueError, match="class-conditional, but Moving MNIST clips have no "
                                         "class labels"):
        sources.video_source("moving_mnist", 2, 4, 16, with_labels=True)


@pytest.mark.parametrize("body, message", [
    (["not", "a", "dict"], "not a JSON object"),
    ({"outputs": {"video": [[300, 1]], "codes": [[1]]}}, r"outside uint8 range \[0, 255\]"),
    ({"outputs": {"video": [[1, 2], [3]], "codes": [[1]]}}, "not a regular array"),
    ({"outputs": {"video": [["a"]], "codes": [[1]]}}, "not numbers"),
    ({"outputs": {"codes": [[2 ** 40]]}}, "outside int32 range"),
    ({"predictions": []}, "has no 'outputs'"),
])
def test_malformed_server_responses_get_one_clear_error(body, message):
    from keras_videogpt.serving import client

    with pytest.raises(client.ServingError, match=message):
        client.parse_response(body)


def test_the_sample_command_refuses_a_label_for_an_unconditional_prior(vqvae, tmp_path):
    from keras_videogpt.evaluation import draw_videos

    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1)
    with pytest.raises(ValueError, match="--label=1 was given, but this prior is not "
                                         "class-conditional"):
        draw_videos(vqvae, prior, str(tmp_path), batch_size=1, seed=0, label=1, verbose=False)
    assert not list(tmp_path.glob("*.gif"))  # refused before drawing anything
