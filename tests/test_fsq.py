"""Finite scalar quantization: closed-form rounding, straight-through gradients, the
id <-> vector bijection, and a VQ-VAE that uses it end to end."""

import numpy as np
import pytest
import tensorflow as tf

from keras_videogpt import VQVAE, VideoGPT, sample
from keras_videogpt.vqvae.fsq import FiniteScalarQuantizer
from tests.conftest import TINY_VQVAE


def test_rounds_each_channel_to_its_levels_in_closed_form():
    fsq = FiniteScalarQuantizer((3, 4))
    z = np.array([[-100.0, -100.0], [0.0, 0.0], [100.0, 100.0], [0.2, 0.3]], "float32")
    fsq.build(z.shape)
    out = np.asarray(fsq.round_to_grid(z))
    # 3 levels: {-1, 0, 1}. 4 levels: bounded to (-1.5, 1.5) - 0.5, rounded to {-2, -1, 0, 1},
    # divided by 4 // 2 = 2: {-1, -0.5, 0, 0.5}.
    np.testing.assert_allclose(out[0], [-1.0, -1.0])
    np.testing.assert_allclose(out[2], [1.0, 0.5])
    np.testing.assert_allclose(out[1], [0.0, 0.0])
    half = np.array([1.0, 1.5]) * (1 - 1e-3)
    offset, shift = np.array([0.0, 0.5]), np.tan(np.array([0.0, 0.5]) / half)
    expected = np.round(np.tanh(z[3] + shift) * half - offset) / np.array([1.0, 2.0])
    np.testing.assert_allclose(out[3], expected)


def test_straight_through_gradient_is_the_bound_functions():
    fsq = FiniteScalarQuantizer((5,))
    z = tf.constant([[-0.7], [0.1], [0.9]])
    with tf.GradientTape() as tape:
        tape.watch(z)
        out = fsq.round_to_grid(z)
    grad = tape.gradient(out, z).numpy()
    half = 2.0 * (1 - 1e-3)
    expected = (1 - np.tanh(z.numpy()) ** 2) * half / 2  # d tanh * half_level / half_width
    np.testing.assert_allclose(grad, expected, rtol=1e-5)


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (2, 3), (7,)])
def test_codes_and_grid_vectors_are_a_bijection(levels):
    fsq = FiniteScalarQuantizer(levels)
    fsq.build((None, len(levels)))
    ids = np.arange(fsq.n_codes)
    vectors = np.asarray(fsq.codes_to_vectors(ids))
    assert len(np.unique(vectors, axis=0)) == fsq.n_codes
    assert vectors.min() >= -1 and vectors.max() <= 1
    np.testing.assert_array_equal(np.asarray(fsq.vectors_to_codes(vectors)), ids)
    np.testing.assert_allclose(np.asarray(fsq.embeddings), vectors)
    # Quantizing a grid vector's pre-image lands on it: nearest is rounding after the bound.
    z = np.random.default_rng(0).normal(size=(64, len(levels))).astype("float32") * 3
    codes = np.asarray(fsq.nearest(z))
    np.testing.assert_allclose(np.asarray(fsq.lookup(codes)), np.asarray(fsq.round_to_grid(z)))


def test_bad_levels_and_widths_are_refused():
    with pytest.raises(ValueError, match="integers >= 2"):
        FiniteScalarQuantizer((1, 5))
    with pytest.raises(ValueError, match="quantizes 2 channels; the input has 3"):
        FiniteScalarQuantizer((3, 3))(np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="Unknown quantizer 'lfq'"):
        VQVAE(**TINY_VQVAE, quantizer="lfq")
    with pytest.raises(ValueError, match="`levels` are FSQ's"):
        VQVAE(**TINY_VQVAE, levels=(5, 5))


def test_fsq_vqvae_trains_encodes_decodes_and_feeds_a_prior(tmp_path):
    vqvae = VQVAE(**dict(TINY_VQVAE, quantizer="fsq", levels=(4, 3, 3)))
    assert (vqvae.embedding_dim, vqvae.n_codes) == (3, 36)
    video = np.random.default_rng(0).uniform(-0.5, 0.5, (2,) + vqvae.video_shape)
    vqvae.compile(optimizer="adam")
    history = vqvae.fit(video.astype("float32"), batch_size=2, epochs=2, verbose=0).history
    assert history["commitment_loss"] == [0.0, 0.0] and np.isfinite(history["loss"]).all()
    codes = vqvae.encode(video)
    assert codes.shape == (2,) + vqvae.latent_shape and int(np.max(codes)) < 36
    np.testing.assert_allclose(np.asarray(vqvae.decode(codes)),
                               np.asarray(vqvae(video.astype("float32"), training=False)),
                               atol=1e-5)
    path = tmp_path / "fsq.keras"
    vqvae.save(path)
    from keras_videogpt import checkpoints

    again = checkpoints.load_vqvae(path)
    assert again.get_config()["levels"] == (4, 3, 3)
    np.testing.assert_array_equal(np.asarray(again.encode(video)), np.asarray(codes))
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=12, num_heads=2, num_layers=1)
    out = sample(prior, vqvae, batch_size=1, seed=0)
    assert out["video"].shape == (1,) + vqvae.video_shape
    with pytest.raises(ValueError, match="cannot fill"):
        from keras_videogpt import convert

        convert.vqvae_entries(vqvae)
