"""The quantizer's reference rounding against PyTorch's own float32 results."""

import pathlib

import numpy as np
import pytest
import tensorflow as tf

from keras_videogpt.vqvae import reference_rounding
from keras_videogpt.vqvae.quantizer import VectorQuantizer

TORCH = np.load(pathlib.Path(__file__).with_name("data") / "torch_rounding.npz")
WIDTHS = (8, 40, 64, 128, 200, 256, 320, 512)


@pytest.mark.parametrize("width", WIDTHS)
def test_sums_and_dots_equal_torch_bit_for_bit(width):
    z, e = TORCH[f"z{width}"], TORCH[f"e{width}"]
    dots = reference_rounding.dot(tf.constant(z)[:, None, :], tf.constant(e)[None]).numpy()
    np.testing.assert_array_equal(dots, TORCH[f"dot{width}"])
    np.testing.assert_array_equal(reference_rounding.row_sum(tf.square(z)).numpy(),
                                  TORCH[f"zsum{width}"])
    np.testing.assert_array_equal(reference_rounding.row_sum(tf.square(e)).numpy(),
                                  TORCH[f"esum{width}"])
    # The plain float32 matmul rounds differently somewhere: the emulation is not a no-op.
    if width >= 64:
        assert np.any((z @ e.T) != TORCH[f"dot{width}"])


def test_same_bits_under_xla():
    z, e = TORCH["z256"], TORCH["e256"]
    jitted = tf.function(lambda a, b: reference_rounding.dot(a[:, None, :], b[None]),
                         jit_compile=True)
    np.testing.assert_array_equal(jitted(z, e).numpy(), TORCH["dot256"])


def test_gemm_blocks_follow_mkl():
    assert reference_rounding.gemm_blocks(64) == [(0, 64)]
    assert reference_rounding.gemm_blocks(256) == [(0, 128), (128, 256)]
    assert reference_rounding.gemm_blocks(512) == [(0, 192), (192, 384), (384, 512)]


def test_exact_ties_go_to_the_lowest_index(rng):
    codebook = rng.normal(size=(6, 8)).astype("float32")
    codebook[4] = codebook[1]
    q = VectorQuantizer(6, 8, reference_rounding=True)
    q.build((None, 1, 1, 1, 8))
    q.embeddings.assign(codebook)
    z = (codebook[[4, 1, 0]] + 1e-3).reshape(1, 1, 1, 3, 8)
    assert q(z, training=False)["codes"].numpy().reshape(-1).tolist() == [1, 1, 0]


def test_agrees_with_the_fast_path_away_from_ties(rng):
    codebook = rng.normal(size=(32, 16)).astype("float32")
    z = rng.normal(size=(2, 2, 4, 4, 16)).astype("float32")
    codes = []
    for exact in (False, True):
        q = VectorQuantizer(32, 16, reference_rounding=exact)
        q.build(z.shape)
        q.embeddings.assign(codebook)
        codes.append(q(z, training=False)["codes"].numpy())
    np.testing.assert_array_equal(codes[0], codes[1])
    restored = VectorQuantizer.from_config(q.get_config())
    assert restored.reference_rounding is True
