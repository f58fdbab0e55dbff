import numpy as np
import pytest

from keras_videogpt.layers.conditional_layer_norm import ConditionalLayerNorm
from keras_videogpt.layers.position import BroadcastPositionEmbedding, RightShift


def test_layer_norm_standard_epsilon(rng):
    x = rng.normal(size=(3, 5, 8)).astype("float32")
    y = ConditionalLayerNorm(epsilon=1e-5)(x).numpy()
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(y, (x - mu) / np.sqrt(var + 1e-5), atol=1e-5)


def test_layer_norm_reference_epsilon_is_added_after_rsqrt(rng):
    x = (rng.normal(size=(3, 8)) * 0.01).astype("float32")
    y = ConditionalLayerNorm(epsilon=1e-2, reference_epsilon=True)(x).numpy()
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    np.testing.assert_allclose(y, (x - mu) * (1 / np.sqrt(var) + 1e-2), rtol=1e-4)
    standard = ConditionalLayerNorm(epsilon=1e-2)(x).numpy()
    assert np.abs(y - standard).max() > 0.1


def test_conditional_layer_norm_gain_and_bias(rng):
    x = rng.normal(size=(2, 4, 6)).astype("float32")
    cond = np.eye(3, dtype="float32")[[0, 2]]
    norm = ConditionalLayerNorm(cond_dim=3)
    y = norm(x, cond=cond).numpy()
    w, wb = norm.gain_kernel.numpy(), norm.bias_kernel.numpy()
    xn = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5)
    expected = xn * (1 + cond @ w)[:, None] + (cond @ wb)[:, None]
    np.testing.assert_allclose(y, expected, atol=1e-5)
    with pytest.raises(ValueError, match="conditional"):
        norm(x)


def test_position_embedding_broadcasts_one_table_per_axis():
    pos = BroadcastPositionEmbedding((2, 3, 4), 6)
    e = pos.embedding().numpy()
    tables = [t.numpy() for t in pos.tables]
    assert e.shape == (2, 3, 4, 6)
    np.testing.assert_allclose(e[1, 2, 3], np.concatenate([tables[0][1], tables[1][2], tables[2][3]]))
    np.testing.assert_allclose(pos.embedding_at(np.array([1, 2, 3])).numpy(), e[1, 2, 3])
    with pytest.raises(ValueError, match="divisible"):
        BroadcastPositionEmbedding((2, 3, 4), 8)


def test_right_shift_in_raster_order(rng):
    x = rng.normal(size=(2, 2, 2, 3, 4)).astype("float32")
    shift = RightShift(4)
    y = shift(x).numpy().reshape(2, -1, 4)
    np.testing.assert_allclose(y[:, 0], np.broadcast_to(shift.start.numpy(), (2, 4)))
    np.testing.assert_allclose(y[:, 1:], x.reshape(2, -1, 4)[:, :-1])
