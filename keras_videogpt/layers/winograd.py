"""Stride-1 3D convolution by Winograd's minimal filtering, F(m, r) along each axis.

A VALID correlation of `r` taps that yields `m` outputs from `m + r - 1`
inputs needs `m + r - 1` products instead of `m r` once the inputs and the
taps are transformed (Toom-Cook on the points of `POINTS` and infinity).
Done along T, H and W with m = 2, an output tile of 2x2x2 costs
`(rT + 1)(rH + 1)(rW + 1)` products per channel pair instead of
`8 rT rH rW`: 3.4x fewer for a kernel of 3, and the products over channels
become `(rT + 1)(rH + 1)(rW + 1)` independent matrix products, one batched
matmul. Axes of 4 taps take 4 outputs a tile where their size allows
(`outputs_per_tile`): F(4, 4) needs 7 products for 4 outputs, against 5 for
2 with F(2, 4).

Axes with one tap are not transformed (an output "tile" of one). The
transforms are many small slices and sums: TF runs them op by op far slower
than its direct conv, so the VQ-VAE runs them as XLA islands and leaves the
products to TF (`IslandWinograd`, in `SamePadConv3D`); on a 2-core CPU a
kernel-3 conv of 240 channels then took about 0.6-0.7x the time of TF's direct
conv (`bench/README.md`). Values agree
with the direct conv to float32 rounding (the transforms' coefficients are
0, +-1 and powers of 2 up to the kernel of 4).

Example:
>>> x = keras.ops.ones((1, 6, 10, 10, 4))
>>> w = keras.ops.ones((3, 3, 3, 4, 8))
>>> winograd_conv3d(x, w).shape
TensorShape([1, 4, 8, 8, 8])
"""

import numpy as np
import tensorflow as tf

from keras_videogpt.layers.xla_island import Island

# Interpolation points, in the order they are taken: F(m, r) uses the first m + r - 2
# and infinity. Small magnitudes keep the transforms' rounding near the direct
# conv's (a 3D kernel of (2, 4, 4) differs from float64 by about as much with
# F(2, 4) on every axis, and 2-3x as much with F(4, 4) on its kernel-4 axes).
POINTS = (0.0, 1.0, -1.0, 0.5, -2.0, 2.0, -0.5)
OUTPUTS = 2  # outputs per tile along a transformed axis, unless `outputs_per_tile` says 4
# Narrower convs ran slower this way on a 2-core CPU (64 channels: 0.5-0.8x of TF's direct
# conv); from 96 channels in and out they ran 1.1-1.6x faster, forward and backward.
MIN_CHANNELS = 96

_POLICY = {"enabled": None}


def set_winograd(enabled):
    """Chooses how `SamePadConv3D` runs its stride-1 convolutions, for this process.

    Args:
        enabled: `None` (the default): Winograd where it pays, that is on a
            machine with no GPU or TPU, for convs of at least `MIN_CHANNELS`
            channels in and out, inside XLA islands (`xla_island`); `True`:
            wherever it applies and islands run; `False`: never (TF's direct conv).
    """
    if enabled not in (None, True, False):
        raise ValueError(f"enabled must be None, True or False; got {enabled!r}.")
    _POLICY["enabled"] = enabled


def policy():
    """The choice `set_winograd` last set: None (the default rule), True or False."""
    return _POLICY["enabled"]


def _cpu_only():
    return not (tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def wanted(kernel_shape, output_size):
    """Whether a stride-1 conv of `kernel_shape` `[kT, kH, kW, C, F]` with `output_size`
    should run as `winograd_conv3d`, by the policy of `set_winograd`."""
    enabled = _POLICY["enabled"]
    if enabled is False or not applies(tuple(kernel_shape[:3]), tuple(output_size)):
        return False
    if enabled:
        return True
    return min(int(kernel_shape[3]), int(kernel_shape[4])) >= MIN_CHANNELS and _cpu_only()


def toom_cook(taps, outputs=OUTPUTS):
    """Matrices `(AT [m, a], G [a, r], BT [a, a])` for the 1D correlation of `taps` taps.

    `y = AT @ ((G @ g) * (BT @ d))` for a tile `d` of `a = m + r - 1` inputs
    gives `y[i] = sum_j d[i + j] g[j]`, i < m. Built from Vandermonde matrices
    on the first `a - 1` points and infinity, in float64.
    """
    size = outputs + taps - 1
    if size - 1 > len(POINTS):
        raise ValueError(f"F({outputs}, {taps}) needs {size - 1} points; {len(POINTS)} are set.")
    points = POINTS[:size - 1]

    def vandermonde(columns):
        rows = [[p ** j for j in range(columns)] for p in points]
        return np.array(rows + [[0.0] * (columns - 1) + [1.0]])

    return vandermonde(outputs).T, vandermonde(taps), np.linalg.inv(vandermonde(size)).T


def applies(kernel_size, output_size):
    """Whether `winograd_conv3d` takes this conv: every axis with more than one tap has an
    even number of outputs, and at least one axis has more than one tap."""
    if any(k < 1 for k in kernel_size) or all(k == 1 for k in kernel_size):
        return False
    return all(k == 1 or (n is not None and n % OUTPUTS == 0)
               for k, n in zip(kernel_size, output_size))


def outputs_per_tile(taps, size):
    """Outputs per tile along an axis of `taps` taps and `size` outputs: 4 for a kernel of
    4 where `size` allows, else 2 (1 for an axis of one tap, which is not transformed).

    F(4, 4) halves the products of F(2, 4) per output (7 for 4 outputs against
    5 for 2): on the bair encoder's `conv_1` (kernel (2, 4, 4) on 480 channels)
    the conv took 66 against 87 ms forward, 230 against 260 ms with its
    gradient. Kernel-3 axes keep F(2, 3): F(4, 3) gained nothing there (its
    larger transforms cost what the products save) and rounds 6-18x worse.
    """
    if taps == 1:
        return 1
    return 4 if taps == 4 and size % 4 == 0 else OUTPUTS


def _combine(parts, coefficients):
    """`sum_j coefficients[j] * parts[j]`, skipping zeros and multiplying by +-1 for free."""
    total = None
    for c, part in zip(coefficients, parts):
        c = float(c)
        if abs(c) < 1e-12:
            continue
        term = part if c == 1.0 else (-part if c == -1.0 else part * c)
        total = term if total is None else total + term
    return total


def _transform_inputs(x, axis, bt, count, step):
    """Tiles along `axis` (`step` apart, `count` of them), each transformed by `bt`:
    a list of `a` tensors, the `a`-th transformed element of every tile."""
    taps = []
    for k in range(bt.shape[1]):
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(k, k + step * (count - 1) + 1, step)
        taps.append(x[tuple(index)])
    return [_combine(taps, row) for row in bt]


def _transform_kernel(kernel, mats):
    """G along each transformed axis of `[kT, kH, kW, C, F]`, one axis after the other.

    Axis by axis, as sums of the kernel's slices, costs `r` terms per output
    element on each axis; one einsum over all three (`G_T G_H G_W k`) costs
    `rT rH rW` and took 2-3x as long in XLA on CPU (24 against 11 ms for the
    bair encoder's `conv_1`), recomputed at every call.
    """
    u = kernel
    for axis, m in enumerate(mats):
        if m is not None:
            taps = tf.unstack(u, axis=axis)
            u = tf.stack([_combine(taps, row) for row in m[1]], axis=axis)
    return u


def _plan(kernel_size, out):
    """Per axis: outputs per tile, tiles, and the Toom-Cook matrices (None if untransformed)."""
    step = [outputs_per_tile(k, n) for k, n in zip(kernel_size, out)]
    tiles = [n // s for n, s in zip(out, step)]
    mats = [toom_cook(k, m) if k > 1 else None for k, m in zip(kernel_size, step)]
    return step, tiles, mats


def transform_inputs(x, kernel):
    """The two operands of Winograd's products: `(v [P, N, C], u [P, C, F])`.

    `v` holds every input tile transformed by `BT` along each axis, `u` the
    kernel transformed by `G`; P is the number of points (`(rT + 1)(rH + 1)(rW + 1)`
    with 2 outputs a tile), N the tiles times the batch. `transform_outputs` of
    `matmul(v, u)` gives the conv.
    """
    kernel_size = tuple(int(k) for k in kernel.shape[:3])
    channels, filters = int(kernel.shape[3]), int(kernel.shape[4])
    out = tuple(int(d) - k + 1 for d, k in zip(x.shape[1:4], kernel_size))
    step, tiles, mats = _plan(kernel_size, out)
    # One axis at a time, each stacking its transformed elements as a new leading axis:
    # `[aT, aH, aW, B, tT, tH, tW, C]`. Keeping all of them as separate tensors until one
    # final stack of `P` parts took 1.4x as long in XLA on an AVX2 CPU (28.6 against 20.5 ms
    # for the bair residual block's kernel-3 conv, 2026-12-02): XLA's CPU loop over a
    # 64-way concatenate branches on every element.
    points = 0
    for axis, m in enumerate(mats):
        if m is not None:
            parts = _transform_inputs(x, points + axis + 1, m[2], tiles[axis], step[axis])
            x = tf.stack(parts, points)
            points += 1
    count = int(np.prod(x.shape[:points]))
    v = tf.reshape(x, (count, -1, channels))
    u = _transform_kernel(kernel, mats)
    return v, tf.reshape(u, (count, channels, filters))


def transform_outputs(products, kernel_size, out):
    """The conv's output `[B, *out, F]` from Winograd's products `[P, N, F]` (`AT` per axis)."""
    step, tiles, mats = _plan(kernel_size, out)
    sizes = [m[2].shape[0] if m is not None else 1 for m in mats]
    filters = int(products.shape[-1])
    products = tf.reshape(products, [int(products.shape[0]), -1] + tiles + [filters])
    parts = tf.unstack(products, axis=0)
    # AT along each transformed axis, in the order `transform_inputs` made the parts.
    for axis, m in enumerate(mats):
        if m is None:
            continue
        inner = int(np.prod(sizes[axis + 1:]))
        outer = len(parts) // (sizes[axis] * inner)
        parts = [_combine([parts[(o * sizes[axis] + j) * inner + i] for j in range(sizes[axis])],
                          row)
                 for o in range(outer) for row in m[0] for i in range(inner)]
    # parts: (mT, mH, mW) outputs of every tile, row-major; interleave them.
    y = tf.reshape(tf.stack(parts, 0), step + [-1] + tiles + [filters])
    y = tf.transpose(y, (3, 4, 0, 5, 1, 6, 2, 7))
    return tf.reshape(y, [-1] + list(out) + [filters])


def winograd_conv3d(x, kernel, inputs=transform_inputs, outputs=transform_outputs):
    """VALID, stride-1 3D correlation of `[B, T, H, W, C]` by `[kT, kH, kW, C, F]`.

    What `tf.nn.conv3d(x, kernel, [1] * 5, "VALID")` computes, with fewer
    multiplications. Each axis with more than one tap needs an even number of
    outputs (`applies`).

    Args:
        x: the input.
        kernel: the kernel.
        inputs, outputs: `transform_inputs` and `transform_outputs`, or the
            same compiled (`IslandWinograd` passes them as XLA islands).

    Returns:
        `[B, T - kT + 1, H - kH + 1, W - kW + 1, F]`.
    """
    kernel_size = tuple(int(k) for k in kernel.shape[:3])
    out = tuple(int(d) - k + 1 for d, k in zip(x.shape[1:4], kernel_size))
    if not applies(kernel_size, out):
        raise ValueError(f"winograd_conv3d needs an even output size on every axis with more "
                         f"than one tap; kernel {kernel_size}, output {out}.")
    v, u = inputs(x, kernel)
    return outputs(tf.matmul(v, u), kernel_size, out)


class IslandWinograd:
    """`winograd_conv3d` run as XLA islands, with its products in TF or in XLA.

    The transforms are many small slices and sums, which XLA fuses. The
    products are one batched matrix product, which runs faster in TF's CPU
    kernel (oneDNN) on some CPUs and in XLA's on others: the bair decoder
    block's kernel-3 conv (240 -> 120 channels on 4x32x32) took 21.9 ms with
    TF's products against 24.7 ms as one island on an Intel Xeon with AVX-512
    (2026-12-01); on an AMD EPYC with AVX2 only, the bair encoder's `conv_1`
    on blocks (kernel (2, 4, 4), 480 -> 240 channels) took 192-214 ms as one
    island against 271-277 ms with TF's products (2026-12-02). `conv_tuner`
    times both. Outside islands (`xla_island.no_islands`) it is
    `winograd_conv3d` in plain TF ops.

    Args:
        products: `"tf"`: the transforms in two islands and the products in
            TF between them; `"xla"`: the whole conv as one island.

    Example:
    >>> conv = IslandWinograd()
    >>> conv(tf.ones((1, 6, 10, 10, 4)), tf.ones((3, 3, 3, 4, 8))).shape
    TensorShape([1, 4, 8, 8, 8])
    """

    def __init__(self, products="tf"):
        if products not in ("tf", "xla"):
            raise ValueError(f"products must be 'tf' or 'xla'; got {products!r}.")
        self.products = products
        self._inputs = Island(transform_inputs)
        self._outputs = Island(transform_outputs)
        self._whole = Island(winograd_conv3d)

    def __call__(self, x, kernel):
        if self.products == "xla":
            return self._whole(x, kernel)
        return winograd_conv3d(x, kernel, self._inputs, self._outputs)
