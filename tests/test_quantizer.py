import numpy as np
import pytest

from keras_videogpt.vqvae.quantizer import VectorQuantizer


def test_inference_picks_nearest_code_and_never_updates(rng):
    q = VectorQuantizer(5, 3, seed=0)
    q.build((None, 1, 2, 2, 3))
    codebook = q.embeddings.numpy()
    z = rng.normal(size=(2, 1, 2, 2, 3)).astype("float32")
    out = q(z, training=False)
    dist = ((z.reshape(-1, 1, 3) - codebook[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(out["codes"].numpy().reshape(-1), dist.argmin(1))
    np.testing.assert_allclose(out["quantized"].numpy().reshape(-1, 3), codebook[dist.argmin(1)],
                               atol=1e-6)
    np.testing.assert_array_equal(q.embeddings.numpy(), codebook)
    assert out["codes"].dtype == "int32" and out["codes"].shape == (2, 1, 2, 2)


def test_first_training_call_initialises_from_the_batch(rng):
    """With exactly n_codes distinct batch vectors, the data-dependent init takes all of them,
    and the EMA step that follows leaves each code on its vector, in closed form."""
    q = VectorQuantizer(4, 2, seed=0)
    rows = rng.normal(size=(4, 2)).astype("float32")
    out = q(rows.reshape(1, 1, 2, 2, 2), training=True)
    assert q.initialized.numpy() == 1.0
    codebook = q.embeddings.numpy()
    order = [int(np.argmin(np.abs(codebook - r).sum(1))) for r in rows]
    assert sorted(order) == [0, 1, 2, 3]  # a permutation of the batch's vectors
    np.testing.assert_allclose(codebook[order], rows, atol=1e-6)
    # N = 1 at init, one vector per code: N' = 0.99 * 1 + 0.01 * 1 = 1, and the sum stays
    # the vector, so every code is alive and the codebook is exactly the batch.
    np.testing.assert_allclose(q.cluster_size.numpy(), np.ones(4), rtol=1e-6)
    np.testing.assert_allclose(q.embedding_sum.numpy(), codebook, atol=1e-6)
    np.testing.assert_array_equal(out["codes"].numpy().reshape(-1), order)
    assert out["usage"].numpy() == pytest.approx(1.0)


def test_ema_update_in_closed_form(rng):
    q = VectorQuantizer(2, 1, decay=0.9, epsilon=0.0, seed=0)
    q.build((None, 1, 1, 4, 1))
    q.embeddings.assign(np.array([[0.0], [10.0]], "float32"))
    q.embedding_sum.assign(np.array([[0.0], [20.0]], "float32"))
    q.cluster_size.assign(np.array([2.0, 2.0], "float32"))
    q.initialized.assign(1.0)
    z = np.array([1.0, 2.0, 9.0, 11.0], "float32").reshape(1, 1, 1, 4, 1)
    out = q(z, training=True)
    n = np.array([0.9 * 2 + 0.1 * 2, 0.9 * 2 + 0.1 * 2])
    s = np.array([0.9 * 0 + 0.1 * 3, 0.9 * 20 + 0.1 * 20])
    np.testing.assert_allclose(q.cluster_size.numpy(), n, rtol=1e-6)
    np.testing.assert_allclose(q.embedding_sum.numpy()[:, 0], s, rtol=1e-6)
    np.testing.assert_allclose(q.embeddings.numpy()[:, 0], s / n, rtol=1e-6)
    np.testing.assert_array_equal(out["codes"].numpy().reshape(-1), [0, 0, 1, 1])
    assert out["perplexity"].numpy() == pytest.approx(2.0, rel=1e-5)
    assert out["usage"].numpy() == pytest.approx(1.0)


def test_dead_codes_restart_from_batch_vectors(rng):
    q = VectorQuantizer(3, 2, decay=0.5, seed=1)
    q.build((None, 1, 1, 6, 2))
    q.embeddings.assign(np.array([[0, 0], [1, 1], [100, 100]], "float32"))
    q.embedding_sum.assign(np.array([[0, 0], [1, 1], [100, 100]], "float32"))
    q.cluster_size.assign(np.array([1.0, 1.0, 1.0], "float32"))
    q.initialized.assign(1.0)
    z = rng.normal(size=(1, 1, 1, 6, 2)).astype("float32")
    q(z, training=True)
    assert q.cluster_size.numpy()[2] == pytest.approx(0.5)  # unused -> below 1 -> restart
    restarted = q.embeddings.numpy()[2]
    assert np.abs(z.reshape(-1, 2) - restarted).sum(1).min() < 1e-6


def test_straight_through_gradient_is_identity(rng):
    import tensorflow as tf

    q = VectorQuantizer(4, 2, seed=0)
    z = tf.constant(rng.normal(size=(1, 1, 2, 2, 2)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = tf.reduce_sum(q(z, training=False)["quantized"] * 3.0)
    np.testing.assert_allclose(tape.gradient(y, z).numpy(), 3.0)


def test_wrong_width_is_refused():
    with pytest.raises(ValueError, match="width 4"):
        VectorQuantizer(3, 4)(np.zeros((1, 1, 1, 1, 5), "float32"))
