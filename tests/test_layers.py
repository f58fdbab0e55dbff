"""Every layer through `run_layer_test`: shapes, config round trip, symbolic call, mixed precision."""

import numpy as np
import pytest

from conftest import run_layer_test
from keras_videogpt.layers import (BroadcastPositionEmbedding, ConditionalLayerNorm,
                                   GridAttention, RightShift, SamePadConv3D,
                                   SamePadConv3DTranspose, TwoPassBatchNorm)
from keras_videogpt.prior.block import TransformerBlock
from keras_videogpt.prior.resnet import ResidualUnit, ResNet3D, SymmetricPadConv3D
from keras_videogpt.vqvae.blocks import AttentionResidualBlock, AxialBlock, Decoder, Encoder
from keras_videogpt.vqvae.quantizer import VectorQuantizer

RNG = np.random.default_rng(0)


def video(*shape):
    return RNG.normal(size=shape).astype("float32")


CASES = {
    "grid_attention_full": (GridAttention, dict(num_heads=2, causal=True), (video(2, 2, 3, 4, 8),),
                            (2, 2, 3, 4, 8), {}),
    "grid_attention_axial": (GridAttention, dict(num_heads=2, attention_axes=(1, 2, 3),
                                                 causal=True), (video(2, 2, 3, 4, 8),),
                             (2, 2, 3, 4, 8), {}),
    "grid_attention_cross": (GridAttention, dict(num_heads=2),
                             (video(2, 2, 3, 4, 8), video(2, 1, 2, 2, 6)), (2, 2, 3, 4, 8), {}),
    "conditional_layer_norm": (ConditionalLayerNorm, dict(cond_dim=5),
                               (video(2, 2, 3, 4, 8), video(2, 5)), (2, 2, 3, 4, 8), {}),
    "layer_norm": (ConditionalLayerNorm, dict(), (video(2, 3, 8),), (2, 3, 8), {}),
    "two_pass_batch_norm": (TwoPassBatchNorm, dict(momentum=0.9, epsilon=1e-5),
                            (video(2, 2, 4, 4, 6),), (2, 2, 4, 4, 6), {}),
    "same_pad_conv": (SamePadConv3D, dict(filters=5, kernel_size=4, strides=2),
                      (video(1, 4, 8, 8, 3),), (1, 2, 4, 4, 5), {}),
    "same_pad_conv_transpose": (SamePadConv3DTranspose, dict(filters=5, kernel_size=4,
                                                             strides=2),
                                (video(1, 2, 4, 4, 3),), (1, 4, 8, 8, 5), {}),
    "position": (BroadcastPositionEmbedding, dict(grid_shape=(2, 3, 4), dim=6),
                 (video(2, 2, 3, 4, 6),), (2, 2, 3, 4, 6), {}),
    "right_shift": (RightShift, dict(dim=6), (video(2, 2, 3, 4, 6),), (2, 2, 3, 4, 6), {}),
    "symmetric_pad_conv": (SymmetricPadConv3D, dict(filters=4, kernel_size=3, strides=(1, 2, 2)),
                           (video(1, 1, 8, 8, 3),), (1, 1, 4, 4, 4), {}),
    "residual_unit": (ResidualUnit, dict(filters=4, strides=(1, 2, 2), projection=True),
                      (video(1, 1, 8, 8, 3),), (1, 1, 4, 4, 4), {}),
    "resnet": (ResNet3D, dict(blocks=(1, 1, 1, 1), width=4, out_dim=6),
               (video(1, 1, 16, 16, 3),), None, {}),
    "axial_block": (AxialBlock, dict(num_heads=2), (video(1, 2, 4, 4, 8),), (1, 2, 4, 4, 8), {}),
    "attention_residual_block": (AttentionResidualBlock, dict(channels=8),
                                 (video(1, 2, 4, 4, 8),), (1, 2, 4, 4, 8), {}),
    "encoder": (Encoder, dict(n_hiddens=8, n_res_layers=1, downsample=(2, 2, 2)),
                (video(1, 4, 8, 8, 3),), (1, 2, 4, 4, 8), {}),
    "decoder": (Decoder, dict(n_hiddens=8, n_res_layers=1, upsample=(2, 2, 2)),
                (video(1, 2, 4, 4, 8),), (1, 4, 8, 8, 3), {}),
    "transformer_block": (TransformerBlock, dict(num_heads=2, num_layers=1, attn_type="axial"),
                          (video(2, 2, 3, 4, 12),), (2, 2, 3, 4, 12), {}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer(name):
    layer_cls, kwargs, inputs, expected, call_kwargs = CASES[name]
    if expected is None:  # the ResNet's grid: what it computes, checked against itself
        expected = tuple(layer_cls(**kwargs)(*inputs).shape)
        assert expected[-1] == kwargs["out_dim"]
    run_layer_test(layer_cls, kwargs, inputs, expected, **call_kwargs)


def test_vector_quantizer_layer():
    layer = run_layer_test(VectorQuantizer, dict(n_codes=8, embedding_dim=4, seed=0),
                           video(2, 2, 3, 3, 4), (2, 2, 3, 3, 4), output_key="quantized",
                           mixed_precision=False)
    codes = layer(video(2, 2, 3, 3, 4))["codes"]
    assert codes.dtype == "int32" and tuple(codes.shape) == (2, 2, 3, 3)


def test_finite_scalar_quantizer_layer():
    from keras_videogpt.vqvae.fsq import FiniteScalarQuantizer

    layer = run_layer_test(FiniteScalarQuantizer, dict(levels=(5, 4, 3)), video(2, 2, 3, 3, 3),
                           (2, 2, 3, 3, 3), output_key="quantized")
    assert layer(video(2, 2, 3, 3, 3))["codes"].shape == (2, 2, 3, 3)
