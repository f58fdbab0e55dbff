"""Same-padded 3D convolution and transposed convolution, padded as in VideoGPT."""

import itertools

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt.layers import conv_tuner, winograd
from keras_videogpt.layers.gemm_conv import gemm_conv3d, gemm_side
from keras_videogpt.layers.xla_island import Island, islands_enabled


def _triple(value, name):
    if isinstance(value, int):
        return (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"`{name}` must be an int or 3 ints, got {value}.")
    return value


def reference_padding(kernel_size, strides):
    """Zero padding per axis that VideoGPT's `SamePadConv3d` applies.

    The total padding on an axis is `kernel - stride`; the front gets the
    larger half (`ceil`), the back the smaller (`floor`).

    Returns:
        A list of three `(front, back)` pairs, for T, H and W.
    """
    return [((k - s + 1) // 2, (k - s) // 2) for k, s in zip(kernel_size, strides)]


def torch_default_initializer():
    """PyTorch's default Conv/Linear init: uniform(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def space_to_depth(x, block):
    """Moves `block` (bt, bh, bw) neighbourhoods of `[B, T, H, W, C]` into channels.

    With `kernel_to_depth`, a conv of kernel k and stride s (k divisible by
    s) becomes a stride-1 conv of kernel k/s on `space_to_depth(x, s)`: the
    same products, summed in another order. We use it because TF's CPU
    kernels for strided Conv3D gradients fall back to a path that is
    50 to 200 times slower at small batch sizes (1 or 2 clips per replica
    on a 2-core machine; `bench/vqvae.py` shows it); the stride-1 form is
    fast at every batch size, and no slower elsewhere.
    """
    _, t, h, w, c = x.shape
    bt, bh, bw = block
    x = ops.reshape(x, (-1, t // bt, bt, h // bh, bh, w // bw, bw, c))
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    return ops.reshape(x, (-1, t // bt, h // bh, w // bw, bt * bh * bw * c))


def _tap_order(kernel_size, block):
    """Flat tap ids of a `kernel_size` kernel in (outer T, H, W, then inner T, H, W) order."""
    (kt, kh, kw), (bt, bh, bw) = kernel_size, block
    taps = np.arange(kt * kh * kw).reshape(kt // bt, bt, kh // bh, bh, kw // bw, bw)
    return taps.transpose(0, 2, 4, 1, 3, 5).reshape(-1)


def kernel_to_depth(kernel, block):
    """Rearranges a `[kT, kH, kW, C, F]` kernel to match `space_to_depth(x, block)`.

    One gather of whole `[C, F]` taps: TF's transpose of rank-8 tensors, the
    obvious way to write it, takes milliseconds even for small kernels.
    """
    kt, kh, kw, c, f = kernel.shape
    bt, bh, bw = block
    taps = ops.take(ops.reshape(kernel, (kt * kh * kw, c, f)),
                    _tap_order((kt, kh, kw), block), axis=0)
    return ops.reshape(taps, (kt // bt, kh // bh, kw // bw, bt * bh * bw * c, f))


# How `SamePadConv3DTranspose` runs, by its filters (`phase_form`). On a 2-core CPU
# (`python bench/convs.py --convs=transposed`), TF's SAME transposed conv took 0.55-0.6x
# the forward time of one conv per phase at 64 filters (tiny convt_0), and the same as
# Winograd per phase at 240, whose gradient is 0.7x its own. At 3 filters one conv over all
# phases took 0.45-0.65x its forward time. (Its forward plus backward took 1.15-1.3x TF's
# alone, but whole train steps, tiny and bair, ran no faster with TF's there.)
PHASES_MIN_FILTERS = 64

TEMPORAL_PADDINGS = ("zeros", "replicate")


def check_temporal_padding(value):
    """`value` if it names a temporal padding, else a ValueError listing them."""
    if value not in TEMPORAL_PADDINGS:
        raise ValueError(f"Unknown temporal_padding {value!r}; choose "
                         f"{' or '.join(map(repr, TEMPORAL_PADDINGS))}.")
    return value


def replicate_time(x, front, back):
    """`[B, T, ...]` with its first frame repeated `front` times before it and its last
    `back` times after it (edge padding along T, which `ops.pad` lacks on TF)."""
    parts = [ops.repeat(x[:, :1], front, axis=1)] if front else []
    parts.append(x)
    if back:
        parts.append(ops.repeat(x[:, -1:], back, axis=1))
    return ops.concatenate(parts, axis=1) if len(parts) > 1 else x


class _SamePadConvBase(keras.layers.Layer):
    """What the reference's padded conv and transposed conv share: arguments, padding, bias.

    `temporal_padding="zeros"` pads time with zeros, as the reference does;
    `"replicate"` repeats the first and last frames instead (as TATS does), so
    that a clip's first and last steps look like its middle ones to the conv
    (H and W are zero-padded either way).
    """

    def __init__(self, filters, kernel_size, strides=1, use_bias=True,
                 temporal_padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.strides = _triple(strides, "strides")
        self.use_bias = use_bias
        self.temporal_padding = check_temporal_padding(temporal_padding)
        self._padding = [[0, 0]] + [list(p) for p in reference_padding(
            self.kernel_size, self.strides)] + [[0, 0]]

    def _pad(self, x):
        if self.temporal_padding == "zeros":
            return ops.pad(x, self._padding)
        front, back = self._padding[1]
        spatial = [[0, 0], [0, 0]] + self._padding[2:]
        return replicate_time(ops.pad(x, spatial), front, back)

    def _add_bias(self, fan_in_channels):
        """PyTorch's default bias: uniform in +-1/sqrt(fan-in), fan-in over the kernel's taps."""
        if not self.use_bias:
            return
        bound = 1.0 / (fan_in_channels * self.kernel_size[0] * self.kernel_size[1]
                       * self.kernel_size[2]) ** 0.5
        self.bias = self.add_weight(name="bias", shape=(self.filters,),
                                    initializer=keras.initializers.RandomUniform(-bound, bound))

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      strides=self.strides, use_bias=self.use_bias,
                      temporal_padding=self.temporal_padding)
        return config


def _winograd_runs(input_shape, kernel_shape):
    """Whether a VALID stride-1 conv of `kernel_shape` on `input_shape` runs as Winograd's,
    in an XLA island: where islands run and `winograd.wanted` takes it."""
    out = [None if d is None else d - k + 1 for d, k in zip(input_shape[1:4], kernel_shape[:3])]
    return islands_enabled() and winograd.wanted(tuple(kernel_shape), out)


@keras.saving.register_keras_serializable(package="keras_videogpt")
class SamePadConv3D(_SamePadConvBase):
    """3D convolution whose output is `input / stride` on every axis.

    Pads `kernel - stride` zeros per axis (extra one at the front) and then
    runs a VALID convolution, exactly as the reference does. Input and output
    are channels-last, `[B, T, H, W, C]`. A conv can run as TF's conv,
    strided or (with the kernel divided by the strides) as a stride-1 conv on
    blocks (`space_to_depth`), and a stride-1 conv as Winograd's in an XLA
    island; the values agree to float32 rounding. On a CPU, a conv large
    enough to matter takes the form that ran fastest at its shape on this
    machine (`conv_tuner`); elsewhere a fixed rule picks: blocks in training
    and where Winograd takes the blocked conv, Winograd for stride-1 convs of
    96 channels or more in and out (`winograd.set_winograd`).

    Args:
        filters: number of output channels.
        kernel_size: int or 3 ints.
        strides: int or 3 ints.
        use_bias: whether to add a bias.
        temporal_padding: `"zeros"` (the reference's) or `"replicate"`.

    Example:
    >>> conv = SamePadConv3D(8, 4, strides=2)
    >>> conv(keras.ops.zeros((1, 4, 8, 8, 3))).shape
    (1, 2, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, use_bias=True,
                 temporal_padding="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides=strides, use_bias=use_bias,
                         temporal_padding=temporal_padding, **kwargs)
        self._winograd = winograd.IslandWinograd()
        self._winograd_xla = winograd.IslandWinograd(products="xla")
        self._gemm = Island(gemm_conv3d)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (in_channels, self.filters),
            initializer=torch_default_initializer(),
        )
        self._add_bias(in_channels)

    def call(self, x, training=None):
        x = self._pad(x)
        forms, default = self._forms(x.shape, bool(training))
        flops = 0.0
        if None not in x.shape:
            outputs = [(d - k) // s + 1 for d, k, s in zip(x.shape[1:4], self.kernel_size,
                                                            self.strides)]
            flops = conv_tuner.conv_flops(x.shape[0], outputs, self.kernel.shape)
        form = conv_tuner.pick(("conv", self.strides), forms, default, x, self.kernel.shape,
                               training, flops, narrow=min(x.shape[-1] or 0, self.filters))
        y = forms[form](x, self.kernel)
        if self.use_bias:
            y = y + self.bias
        return y

    def _forms(self, padded_shape, training):
        """`({name: fn(padded x, kernel)}, the fixed rule's choice)`: the forms this conv can
        run in here, for `conv_tuner.pick`.

        Stride 1: `"direct"` (TF's conv), `"winograd"` and `"winograd_xla"`
        (Winograd's, where `winograd.applies`: its transforms in XLA islands and
        its products in TF, or all of it in one island). Strided: `"strided"`
        (TF's strided conv), and where the kernel divides by the strides,
        `"blocks"`, `"blocks_winograd"` and `"blocks_winograd_xla"` (a stride-1
        conv on `space_to_depth` blocks).
        """
        islands = islands_enabled()
        if all(s == 1 for s in self.strides):
            forms = {"direct": lambda x, k: ops.conv(x, k, padding="valid")}
            out = [None if d is None else d - k + 1
                   for d, k in zip(padded_shape[1:4], self.kernel_size)]
            if islands and winograd.applies(self.kernel_size, tuple(out)):
                forms["winograd"] = self._winograd_conv
                forms["winograd_xla"] = self._winograd_xla_conv
            if islands and gemm_side(self.kernel.shape):
                forms["gemm"] = self._gemm_conv
            return forms, self._stride_one_rule(padded_shape, self.kernel.shape)
        forms = {"strided": lambda x, k: ops.conv(x, k, strides=self.strides, padding="valid")}
        if not self._as_stride_one(padded_shape):
            return forms, "strided"
        blocks = (padded_shape[0], *[d // s for d, s in zip(padded_shape[1:4], self.strides)],
                  int(padded_shape[-1]) * int(np.prod(self.strides)))
        taps = tuple(k // s for k, s in zip(self.kernel_size, self.strides))
        forms["blocks"] = lambda x, k: ops.conv(space_to_depth(x, self.strides),
                                                kernel_to_depth(k, self.strides), padding="valid")
        if islands and winograd.applies(taps, tuple(d - t + 1 for d, t in zip(blocks[1:4], taps))):
            forms["blocks_winograd"] = lambda x, k: self._winograd_conv(
                space_to_depth(x, self.strides), kernel_to_depth(k, self.strides))
            forms["blocks_winograd_xla"] = lambda x, k: self._winograd_xla_conv(
                space_to_depth(x, self.strides), kernel_to_depth(k, self.strides))
        if islands and gemm_side((*taps, blocks[-1], self.filters)):
            forms["blocks_gemm"] = lambda x, k: self._gemm_conv(
                space_to_depth(x, self.strides), kernel_to_depth(k, self.strides))
        if not self._by_blocks(padded_shape, training):
            return forms, "strided"
        blocked_rule = self._stride_one_rule(blocks, (*taps, blocks[-1], self.filters))
        return forms, "blocks_winograd" if blocked_rule == "winograd" else "blocks"

    def _winograd_conv(self, x, kernel, winograd_conv=None):
        if not isinstance(x, tf.Tensor):  # symbolic: the direct conv gives the same shape
            return ops.conv(x, kernel, padding="valid")
        return (winograd_conv or self._winograd)(x, tf.convert_to_tensor(kernel))

    def _winograd_xla_conv(self, x, kernel):
        return self._winograd_conv(x, kernel, self._winograd_xla)

    def _gemm_conv(self, x, kernel):
        if not isinstance(x, tf.Tensor):  # symbolic: the direct conv gives the same shape
            return ops.conv(x, kernel, padding="valid")
        return self._gemm(x, tf.convert_to_tensor(kernel))

    @staticmethod
    def _stride_one_rule(shape, kernel_shape):
        """The fixed rule for a stride-1 conv: `"winograd"` where `_winograd_runs`, else
        `"direct"`."""
        return "winograd" if _winograd_runs(shape, kernel_shape) else "direct"

    def _by_blocks(self, padded_shape, training):
        """Whether this strided conv runs as a stride-1 conv on blocks (`space_to_depth`).

        In training, always where it can: its gradient is the faster (2x at 3
        input channels, `conv_0`). At inference, only where Winograd takes the
        blocked conv (bair's `conv_1`): elsewhere TF's strided conv ran 10-18%
        faster forward, with no `space_to_depth` to pay.
        """
        if not self._as_stride_one(padded_shape):
            return False
        if training:
            return True
        blocks = (padded_shape[0], *[d // s for d, s in zip(padded_shape[1:4], self.strides)],
                  int(padded_shape[-1]) * int(np.prod(self.strides)))
        taps = [k // s for k, s in zip(self.kernel_size, self.strides)]
        return _winograd_runs(blocks, (*taps, blocks[-1], self.filters))

    def _as_stride_one(self, padded_shape):
        """Whether this strided conv can run as a stride-1 conv on blocks (see `space_to_depth`)."""
        if all(s == 1 for s in self.strides):
            return False
        return all(k % s == 0 and d is not None and d % s == 0
                   for k, s, d in zip(self.kernel_size, self.strides, padded_shape[1:4]))

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else d // s
                   for d, s in zip(input_shape[1:4], self.strides)]
        return (input_shape[0], *spatial, self.filters)


def subpixel_kernel(kernel, strides):
    """A transposed-conv kernel `[kT, kH, kW, F, C]` as one stride-1 conv over every output phase.

    For kernel k and stride s with `k % s == 0` on an axis, output `s * q + r`
    of the reference's transposed conv (pad, transpose, crop `k - 1` a side)
    is a stride-1 correlation of `m = k / s` taps over the padded input,
    starting at `q + o(r)` with `o(0) = 0` and `o(r > 0) = 1`, tap `a` weighing
    `kernel[r + k - 1 - s * (a + o(r))]`. All phases share one conv of `m`
    taps with `s_T * s_H * s_W * F` output channels (phase-major); each phase
    is then cropped at its own offset (`depth_to_space`).

    Returns:
        `[mT, mH, mW, C, sT * sH * sW * F]`.
    """
    kt, kh, kw, f, c = kernel.shape
    per_axis = []
    for k, s in zip((kt, kh, kw), strides):
        m = k // s
        # [m, s] tap of phase r, tap a: r + k - 1 - s * (a + (r > 0))
        per_axis.append(np.array([[r + k - 1 - s * (a + (r > 0)) for r in range(s)]
                                  for a in range(m)]))
    (mt, st), (mh, sh), (mw, sw) = (t.shape for t in per_axis)
    # flat tap ids in (mT, mH, mW, sT, sH, sW) order, gathered in one go
    ids = (per_axis[0][:, None, None, :, None, None] * kh * kw
           + per_axis[1][None, :, None, None, :, None] * kw
           + per_axis[2][None, None, :, None, None, :])
    w = ops.take(ops.reshape(kernel, (kt * kh * kw, f, c)), ids.reshape(-1), axis=0)
    w = ops.reshape(w, (mt * mh * mw, st * sh * sw, f, c))
    w = ops.transpose(w, (0, 3, 1, 2))  # [taps, C, phases, F]: rank 4, which TF moves fast
    return ops.reshape(w, (mt, mh, mw, c, st * sh * sw * f))


def _phase_offsets(strides):
    """`(oT, oH, oW)` of every output phase, phase-major as in `subpixel_kernel`: phase
    `r > 0` of an axis reads from one position later than phase 0."""
    return list(itertools.product(*[[int(r > 0) for r in range(s)] for s in strides]))


def interleave_phases(phases, strides, size, filters):
    """Phase outputs `[B, nT, nH, nW, F]` (phase-major) as one `[B, sT*nT, sH*nH, sW*nW, F]`."""
    st, sh, sw = strides
    nt, nh, nw = size
    y = ops.stack(phases, axis=4)  # [B, nT, nH, nW, sT*sH*sW, F]
    y = ops.reshape(y, (-1, nt, nh, nw, st, sh, sw, filters))
    y = ops.transpose(y, (0, 1, 4, 2, 5, 3, 6, 7))
    return ops.reshape(y, (-1, nt * st, nh * sh, nw * sw, filters))


def depth_to_space(z, strides, size, filters):
    """Interleaves the phases of a `subpixel_kernel` conv's output into `[B, sT*nT, ..., F]`.

    `z` is `[B, nT + o, nH + o, nW + o, sT * sH * sW * F]`; phase `r > 0` of an
    axis starts one position later than phase 0 (see `subpixel_kernel`).
    """
    nt, nh, nw = size
    # Split by channels, then crop each phase: the gradient is one concat and a small pad
    # per phase. Slicing each phase out of the whole `z` made TF's gradient write a zero
    # tensor of z's full size per phase: 55 of the ref-tiny train step's 380 ms.
    parts = ops.split(z, int(np.prod(strides)), axis=-1)
    phases = [ops.slice(part, (0, ot, oh, ow, 0), (-1, nt, nh, nw, -1))
              for part, (ot, oh, ow) in zip(parts, _phase_offsets(strides))]
    return interleave_phases(phases, strides, size, filters)


def conv_transpose_by_phases(x, kernel, strides, size, conv=None):
    """The reference's transposed conv as one stride-1 conv per output phase.

    Each phase's conv reads the padded input from its own offset and yields
    exactly its `size` outputs, so nothing is computed to be cropped, unlike
    the shared conv of `subpixel_kernel` (which computes `n + 1` positions per
    axis: a third more at the bair decoder's 4x32x32). The phases' convs are
    also small enough for `winograd_conv3d`.

    Args:
        x: the input `[B, nT, nH, nW, C]` padded as `SamePadConv3DTranspose` pads it.
        kernel: the transposed conv's kernel, `[kT, kH, kW, F, C]`.
        strides: 3 ints, each dividing its kernel size.
        size: the unpadded input's `(nT, nH, nW)`.
        conv: `conv(x, kernel)`, a VALID stride-1 conv; TF's by default.

    Returns:
        `[B, sT * nT, sH * nH, sW * nW, F]`.
    """
    conv = conv or (lambda x, k: ops.conv(x, k, padding="valid"))
    filters = kernel.shape[3]
    taps = [k // s for k, s in zip(kernel.shape[:3], strides)]
    window = [n + m - 1 for n, m in zip(size, taps)]
    kernels = ops.split(subpixel_kernel(kernel, strides), int(np.prod(strides)), axis=-1)
    # `ops.slice`, whose gradient is a pad: a strided slice's writes a zero tensor the
    # size of `x` per phase.
    phases = [conv(ops.slice(x, (0, *offsets, 0), (-1, *window, -1)), k)
              for offsets, k in zip(_phase_offsets(strides), kernels)]
    return interleave_phases(phases, strides, size, filters)


def same_offset_matches(kernel_size, strides):
    """Whether TF's `SAME` transposed conv puts every output where the reference's does.

    The reference pads `ceil((k - s) / 2)` in front, transposes and crops `k - 1`,
    so input `i`'s tap `a` lands at `s * i + a + s * ceil((k - s) / 2) - (k - 1)`;
    TF's `SAME` is the adjoint of a strided `SAME` conv, which lands it at
    `s * i + a - floor((k - s) / 2)`. The two agree for the VQ-VAE's kernels
    (k = 4 with s = 1 or 2, k = 3 with s = 1 or 2) but not, say, for k = s.
    """
    return all(s * ((k - s + 1) // 2) - (k - 1) == -((k - s) // 2) and k >= s
               for k, s in zip(kernel_size, strides))


def phase_form(kernel_shape, strides, size, training=False, same_padding=True):
    """How `SamePadConv3DTranspose` runs a transposed conv whose kernel divides by its strides.

    Args:
        kernel_shape: `[kT, kH, kW, F, C]`.
        strides: 3 ints.
        size: the input's `(nT, nH, nW)`.
        training: whether the conv runs in training (a gradient will follow).
        same_padding: whether TF's `SAME` padding gives the reference's outputs
            (zero temporal padding and `same_offset_matches`).

    Returns:
        - `"shared"` below `PHASES_MIN_FILTERS` filters: one stride-1 conv over all
          phases (`subpixel_kernel`), whose output is `s^3` times wider.
        - `"phases_winograd"` in training where `winograd.wanted` takes the phases'
          convs (from 96 channels in and out on a CPU): one Winograd conv per phase
          (`conv_transpose_by_phases`), in an XLA island where islands run. Its
          gradient is the fastest at those widths.
        - `"transpose"` where `same_padding` holds: TF's own SAME transposed conv, one
          oneDNN deconvolution on a CPU.
        - `"phases"` otherwise: one TF conv per phase.
    """
    kt, kh, kw, filters, channels = (int(d) for d in kernel_shape)
    if filters < PHASES_MIN_FILTERS:
        return "shared"
    taps = [k // s for k, s in zip((kt, kh, kw), strides)]
    if training and winograd.wanted((*taps, channels, filters), tuple(size)):
        return "phases_winograd"
    return "transpose" if same_padding else "phases"


def _conv_transpose_by_winograd_phases(x, kernel, strides, size):
    return conv_transpose_by_phases(x, kernel, strides, size, winograd.winograd_conv3d)


@keras.saving.register_keras_serializable(package="keras_videogpt")
class SamePadConv3DTranspose(_SamePadConvBase):
    """3D transposed convolution whose output is `input * stride` per axis.

    Reproduces the reference's `SamePadConvTranspose3d`: the input is zero-padded
    as in `SamePadConv3D`, the full transposed convolution is computed
    (`(n - 1) * s + k` outputs per axis), and `k - 1` outputs are cropped from
    each side, which is what PyTorch's `padding = k - 1` does. The kernel has the
    layout `[kT, kH, kW, filters, in_channels]`.

    We compute only the kept outputs: on a CPU, for a conv large enough to
    matter, in the form that ran fastest at its shape on this machine
    (`conv_tuner`); elsewhere in the form `phase_form` picks: TF's own SAME
    transposed conv where its padding is the reference's (zero temporal
    padding); one stride-1 conv per output phase in training for wide convs
    (Winograd's on a CPU, see `winograd.set_winograd`) or with replicate padding;
    one stride-1 conv over all phases below `PHASES_MIN_FILTERS` filters.
    Kernels not divisible by their strides, or unknown sizes, take TF's
    transposed conv over the padded input, then the crop.

    Args:
        filters: number of output channels.
        kernel_size: int or 3 ints.
        strides: int or 3 ints.
        use_bias: whether to add a bias.
        temporal_padding: `"zeros"` (the reference's) or `"replicate"`.

    Example:
    >>> up = SamePadConv3DTranspose(3, 4, strides=(1, 2, 2))
    >>> up(keras.ops.zeros((1, 4, 8, 8, 16))).shape
    (1, 4, 16, 16, 3)
    """

    def __init__(self, filters, kernel_size, strides=1, use_bias=True,
                 temporal_padding="zeros", **kwargs):
        super().__init__(filters, kernel_size, strides=strides, use_bias=use_bias,
                         temporal_padding=temporal_padding, **kwargs)
        self._winograd_phases = Island(_conv_transpose_by_winograd_phases)
        self._winograd = winograd.IslandWinograd()
        self._gemm = Island(gemm_conv3d)

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, in_channels),
            initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
        )
        self._add_bias(self.filters)

    def call(self, x, training=None):
        size = tuple(x.shape[1:4])
        if self._as_subpixel(size):
            # Only the kept outputs (see `phase_form`).
            y = self._only_kept(x, size, bool(training))
        else:
            y = ops.conv_transpose(self._pad(x), self.kernel, strides=self.strides,
                                   padding="valid")
            kt, kh, kw = (k - 1 for k in self.kernel_size)
            y = y[:, kt:y.shape[1] - kt, kh:y.shape[2] - kh, kw:y.shape[3] - kw, :]
        if self.use_bias:
            y = y + self.bias
        return y

    def _only_kept(self, x, size, training):
        """The transposed conv in the form `conv_tuner.pick` takes (on a CPU, the fastest
        here) or, where it does not tune, the one `phase_form` picks."""
        forms, default = self._forms(x, size, training)
        flops = (conv_tuner.conv_flops(x.shape[0], size, self.kernel.shape)
                 if x.shape[0] is not None else 0.0)
        form = conv_tuner.pick(("conv_transpose", self.strides, self.temporal_padding), forms,
                               default, x, self.kernel.shape, training, flops,
                               narrow=min(x.shape[-1] or 0, self.filters))
        return forms[form](x, self.kernel)

    def _forms(self, x, size, training):
        """`({name: fn(x, kernel)}, the fixed rule's choice)`: the forms of `phase_form`
        that apply here (`"transpose"` only where TF's SAME padding is the reference's,
        `"phases_winograd"` only where islands run and `winograd.applies`), and for the
        tuner alone `"phases_winograd_tf"`: one Winograd conv per phase with its transforms
        in XLA islands and its products in TF (`"phases_winograd"` is all one island)."""
        same = (self.temporal_padding == "zeros"
                and same_offset_matches(self.kernel_size, self.strides))
        strides = self.strides

        def shared(x, kernel):
            z = ops.conv(self._pad(x), subpixel_kernel(kernel, strides), padding="valid")
            return depth_to_space(z, strides, size, self.filters)

        forms = {"shared": shared}
        if same:
            forms["transpose"] = lambda x, k: ops.conv_transpose(x, k, strides=strides,
                                                                 padding="same")
        else:
            forms["phases"] = lambda x, k: conv_transpose_by_phases(self._pad(x), k, strides, size)
        taps = tuple(k // s for k, s in zip(self.kernel_size, strides))
        if islands_enabled() and isinstance(x, tf.Tensor) and winograd.applies(taps, size):
            forms["phases_winograd"] = lambda x, k: self._winograd_phases(
                self._pad(x), tf.convert_to_tensor(k), strides, size)
            forms["phases_winograd_tf"] = lambda x, k: conv_transpose_by_phases(
                self._pad(x), tf.convert_to_tensor(k), strides, size, self._winograd)
        subpixel_shape = (*taps, int(self.kernel.shape[-1]), int(np.prod(strides)) * self.filters)
        if islands_enabled() and isinstance(x, tf.Tensor) and gemm_side(subpixel_shape):
            def shared_gemm(x, kernel):
                kernel = subpixel_kernel(tf.convert_to_tensor(kernel), strides)
                return depth_to_space(self._gemm(self._pad(x), kernel), strides, size,
                                      self.filters)

            forms["shared_gemm"] = shared_gemm
        default = phase_form(self.kernel.shape, strides, size, training, same)
        if default not in forms:  # phases_winograd outside islands, or a forced "phases"
            forms["phases"] = lambda x, k: conv_transpose_by_phases(self._pad(x), k, strides, size)
            default = "phases"
        return forms, default

    def _as_subpixel(self, size):
        """Whether the phase form applies: static sizes and kernels divisible by the strides."""
        return None not in size and all(k % s == 0 for k, s in zip(self.kernel_size,
                                                                    self.strides))

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else d * s
                   for d, s in zip(input_shape[1:4], self.strides)]
        return (input_shape[0], *spatial, self.filters)

