"""The VQ-VAE's attention residual blocks, encoder and decoder."""

import math

import keras
from keras import ops

from keras_videogpt.layers.grid_attention import GridAttention, side_by_side
from keras_videogpt.layers.two_pass_batch_norm import TwoPassBatchNorm
from keras_videogpt.layers.xla_island import Island
from keras_videogpt.layers.conv import SamePadConv3D, SamePadConv3DTranspose


def batch_norm(synchronized, name):
    """BatchNorm with PyTorch's defaults (momentum 0.1 there, eps 1e-5)."""
    return TwoPassBatchNorm(
        momentum=0.9, epsilon=1e-5, synchronized=synchronized, name=name)


def stride_schedule(downsample):
    """Per-step strides for a downsampling of `downsample` (powers of 2) per axis.

    `(4, 2, 2)` gives `[(2, 2, 2), (2, 1, 1)]`: stride 2 on every axis that
    still needs halving, as the reference's encoder and decoder do.
    """

    steps = []
    for d in downsample:
        if d < 1 or 2 ** round(math.log2(d)) != d:
            raise ValueError(f"Each downsampling factor must be a power of 2; got {tuple(downsample)}.")
        steps.append(int(round(math.log2(d))))
    return [tuple(2 if n > i else 1 for n in steps) for i in range(max(steps))]


@keras.saving.register_keras_serializable(package="keras_videogpt")
class AxialBlock(keras.layers.Layer):
    """Sum of three non-causal attentions, along W, H and T, each with its own weights.

    The same sum as calling the three `GridAttention`s, computed in three parts:
    the nine input projections as three matrix products (each attention's q, k
    and v side by side), the attentions as one XLA island where islands run,
    and the three output projections as one product. TF's CPU matrix product
    (oneDNN) ran the projections 15-25% faster than XLA's dots, and XLA runs the
    attentions' many small ops about twice as fast as TF: the bair decoder's
    block took 44.6 against 49.6 ms with all of it in one island, in one
    interleaved run (2026-12-01, Intel Xeon).

    Args:
        num_heads: heads of each attention (the reference uses 2).

    Example:
    >>> block = AxialBlock(2)
    >>> tuple(block(keras.ops.ones((1, 2, 4, 4, 8))).shape)
    (1, 2, 4, 4, 8)
    """

    def __init__(self, num_heads=2, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = num_heads
        self.attn_w = GridAttention(num_heads, attention_axes=(3,), name="attn_w")
        self.attn_h = GridAttention(num_heads, attention_axes=(2,), name="attn_h")
        self.attn_t = GridAttention(num_heads, attention_axes=(1,), name="attn_t")
        self._island = Island(self._attend)

    @property
    def _attentions(self):
        return (self.attn_w, self.attn_h, self.attn_t)

    def build(self, input_shape):
        for attn in self._attentions:
            attn.build(input_shape)

    def call(self, x, training=None):
        channels = x.shape[-1]
        flat = ops.reshape(x, (-1, channels))
        qkv = [ops.matmul(flat, ops.cast(side_by_side(
                   (attn.query_kernel, attn.key_kernel, attn.value_kernel)), x.dtype))
               for attn in self._attentions]
        out = self._island(*qkv, tuple(x.shape[1:4]), bool(training))
        kernel = ops.concatenate([ops.reshape(ops.cast(attn.output_kernel, x.dtype),
                                              (-1, channels)) for attn in self._attentions], 0)
        bias = sum(ops.cast(attn.output_bias, x.dtype) for attn in self._attentions)
        return ops.reshape(ops.matmul(out, kernel) + bias, ops.shape(x))

    def _attend(self, qkv_w, qkv_h, qkv_t, grid, training):
        """The three attentions of `[N, 3 * C]` projections (q, k, v); `[N, 3 * C]` out."""
        outs = []
        for attn, qkv in zip(self._attentions, (qkv_w, qkv_h, qkv_t)):
            n, d = attn.num_heads, attn.key_dim
            q, k, v = (ops.reshape(t, (-1, *grid, n, d)) for t in ops.split(qkv, 3, axis=-1))
            outs.append(ops.reshape(attn.attend(q, k, v, training=training), (-1, n * d)))
        return ops.concatenate(outs, axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class AttentionResidualBlock(keras.layers.Layer):
    """`x + f(x)` with f = BN, ReLU, conv3 (C->C/2), BN, ReLU, conv1 (C/2->C), BN, ReLU, axial attention.

    Args:
        channels: C.
        synchronized_bn: synchronise BatchNorm statistics across replicas.
        temporal_padding: the kernel-3 conv's padding in time, `"zeros"` (the
            reference's) or `"replicate"` (see `SamePadConv3D`).
    """

    def __init__(self, channels, synchronized_bn=False, temporal_padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.synchronized_bn = synchronized_bn
        self.temporal_padding = temporal_padding
        self.norm1 = batch_norm(synchronized_bn, "norm1")
        self.conv1 = SamePadConv3D(self.channels // 2, 3, use_bias=False, name="conv1",
                                   temporal_padding=temporal_padding)
        self.norm2 = batch_norm(synchronized_bn, "norm2")
        self.conv2 = SamePadConv3D(self.channels, 1, use_bias=False, name="conv2")
        self.norm3 = batch_norm(synchronized_bn, "norm3")
        self.attention = AxialBlock(2, name="attention")

    def build(self, input_shape):
        half = input_shape[:-1] + (self.channels // 2,)
        self.norm1.build(input_shape)
        self.conv1.build(input_shape)
        self.norm2.build(half)
        self.conv2.build(half)
        self.norm3.build(input_shape)
        self.attention.build(input_shape)

    def call(self, x, training=None):
        h = ops.relu(self.norm1(x, training=training))
        h = ops.relu(self.norm2(self.conv1(h), training=training))
        h = ops.relu(self.norm3(self.conv2(h), training=training))
        return x + self.attention(h, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(channels=self.channels, synchronized_bn=self.synchronized_bn,
                      temporal_padding=self.temporal_padding)
        return config


class _ResidualStack(keras.layers.Layer):
    """`n` attention residual blocks, then BatchNorm and ReLU."""
    def __init__(self, channels, n_res_layers, synchronized_bn=False, temporal_padding="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.blocks = [AttentionResidualBlock(channels, synchronized_bn, temporal_padding,
                                              name=f"block_{i}")
                       for i in range(n_res_layers)]
        self.norm = batch_norm(synchronized_bn, "norm")

    def build(self, input_shape):
        for block in self.blocks:
            block.build(input_shape)
        self.norm.build(input_shape)

    def call(self, x, training=None):
        for block in self.blocks:
            x = block(x, training=training)
        return ops.relu(self.norm(x, training=training))


@keras.saving.register_keras_serializable(package="keras_videogpt")
class Encoder(keras.layers.Layer):
    """Strided kernel-4 convs with ReLU, a kernel-3 conv, residual blocks, BN, ReLU.

    Args:
        n_hiddens: channel width.
        n_res_layers: number of attention residual blocks.
        downsample: T, H, W downsampling factors (powers of 2).
        synchronized_bn: synchronise BatchNorm across replicas.
        temporal_padding: the convs' padding in time, `"zeros"` (the
            reference's) or `"replicate"` (see `SamePadConv3D`).
    """

    def __init__(self, n_hiddens, n_res_layers, downsample, synchronized_bn=False,
                 temporal_padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.n_hiddens = int(n_hiddens)
        self.n_res_layers = int(n_res_layers)
        self.downsample = tuple(int(d) for d in downsample)
        self.synchronized_bn = synchronized_bn
        self.temporal_padding = temporal_padding
        self.convs = [SamePadConv3D(self.n_hiddens, 4, strides=s, name=f"conv_{i}",
                                    temporal_padding=temporal_padding)
                      for i, s in enumerate(stride_schedule(self.downsample))]
        self.conv_last = SamePadConv3D(self.n_hiddens, 3, name="conv_last",
                                       temporal_padding=temporal_padding)
        self.res_stack = _ResidualStack(self.n_hiddens, self.n_res_layers, synchronized_bn,
                                        temporal_padding, name="res_stack")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs + [self.conv_last]:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.res_stack.build(shape)

    def call(self, x, training=None):
        for conv in self.convs:
            x = ops.relu(conv(x))
        return self.res_stack(self.conv_last(x), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(n_hiddens=self.n_hiddens, n_res_layers=self.n_res_layers,
                      downsample=self.downsample, synchronized_bn=self.synchronized_bn,
                      temporal_padding=self.temporal_padding)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class Decoder(keras.layers.Layer):
    """Residual blocks, BN, ReLU, then kernel-4 transposed convs (ReLU between, not after).

    Args:
        n_hiddens: channel width.
        n_res_layers: number of attention residual blocks.
        upsample: T, H, W upsampling factors (powers of 2).
        out_channels: channels of the output video.
        synchronized_bn: synchronise BatchNorm across replicas.
        temporal_padding: the convs' padding in time, `"zeros"` (the
            reference's) or `"replicate"` (see `SamePadConv3D`).
    """

    def __init__(self, n_hiddens, n_res_layers, upsample, out_channels=3,
                 synchronized_bn=False, temporal_padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.n_hiddens = int(n_hiddens)
        self.n_res_layers = int(n_res_layers)
        self.upsample = tuple(int(d) for d in upsample)
        self.out_channels = int(out_channels)
        self.synchronized_bn = synchronized_bn
        self.temporal_padding = temporal_padding
        self.res_stack = _ResidualStack(self.n_hiddens, self.n_res_layers, synchronized_bn,
                                        temporal_padding, name="res_stack")
        steps = stride_schedule(self.upsample)
        self.convts = [
            SamePadConv3DTranspose(self.out_channels if i == len(steps) - 1 else self.n_hiddens,
                                   4, strides=s, name=f"convt_{i}",
                                   temporal_padding=temporal_padding)
            for i, s in enumerate(steps)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        self.res_stack.build(shape)
        for convt in self.convts:
            convt.build(shape)
            shape = convt.compute_output_shape(shape)

    def call(self, x, training=None):
        x = self.res_stack(x, training=training)
        for i, convt in enumerate(self.convts):
            x = convt(x)
            if i < len(self.convts) - 1:
                x = ops.relu(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(n_hiddens=self.n_hiddens, n_res_layers=self.n_res_layers,
                      upsample=self.upsample, out_channels=self.out_channels,
                      synchronized_bn=self.synchronized_bn,
                      temporal_padding=self.temporal_padding)
        return config
