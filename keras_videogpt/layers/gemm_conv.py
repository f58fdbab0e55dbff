"""A VALID stride-1 3D conv as one matrix product and shifted slices, for narrow convs.

TF's CPU conv kernels run a conv with few channels on one side far below the
CPU's rate in training: the tiny VQ-VAE's first conv (on `space_to_depth`
blocks: 24 channels in, 64 out, kernel 2) took 56 ms with its kernel's gradient
on 2 clips, on an AMD EPYC with AVX2 (2026-12-02). Written as one product
over the channels on the wide side, its products run at the matrix product's
rate:

- few input channels (`"columns"`, im2col): the `kT * kH * kW` shifted slices
  of `x` side by side, `[..., kT kH kW C]`, times the kernel as a
  `[kT kH kW C, F]` matrix. The same conv took 11-14 ms there.
- few output channels (`"overlap"`, col2im): `x` times the kernel as a
  `[C, kT kH kW F]` matrix, then the sum of each tap's shifted slice. The
  sub-pixel form of the bair decoder's last transposed conv (240 channels
  to 8 phases of 3) took 24-28 ms with both gradients on 1 clip, against
  69 ms as TF's conv.

Both hold `kT kH kW` times the narrow side's channels per position, so they
apply where that is at most `MAX_WIDTH`. `conv_tuner` times them against
the other forms, in XLA islands; the values are the conv's, summed in
another order.

Example:
>>> x, kernel = tf.ones((1, 4, 8, 8, 3)), tf.ones((2, 2, 2, 3, 16))
>>> gemm_conv3d(x, kernel).shape
TensorShape([1, 3, 7, 7, 16])
"""

import itertools

import tensorflow as tf

# The most taps x channels (of the narrow side) a position may hold: 512 floats per output
# position at most, twice the widest conv's input in the VQ-VAEs' high-resolution ends.
MAX_WIDTH = 512


def gemm_side(kernel_shape):
    """`"columns"` or `"overlap"` (module docstring) for a `[kT, kH, kW, C, F]` kernel, by its
    narrower side, or None where both sides are wider than `MAX_WIDTH`."""
    *taps, c, f = (int(d) for d in kernel_shape)
    n = taps[0] * taps[1] * taps[2]
    if min(c, f) * n > MAX_WIDTH:
        return None
    return "columns" if c <= f else "overlap"


def gemm_conv3d(x, kernel):
    """The VALID stride-1 conv of `x` `[B, T, H, W, C]` with `kernel` `[kT, kH, kW, C, F]`,
    as one matrix product (see the module docstring); `[B, T-kT+1, H-kH+1, W-kW+1, F]`."""
    kt, kh, kw, c, f = (int(d) for d in kernel.shape)
    t, h, w = (int(d) for d in x.shape[1:4])
    out = (t - kt + 1, h - kh + 1, w - kw + 1)
    taps = list(itertools.product(range(kt), range(kh), range(kw)))

    def window(z, tap):
        a, b, d = tap
        return z[:, a:a + out[0], b:b + out[1], d:d + out[2]]

    if gemm_side(kernel.shape) == "overlap":
        # [C, taps * F]: each tap's [C, F] side by side
        matrix = tf.reshape(tf.transpose(tf.reshape(kernel, (-1, c, f)), (1, 0, 2)), (c, -1))
        z = tf.reshape(tf.matmul(tf.reshape(x, (-1, c)), matrix), (-1, t, h, w, len(taps), f))
        return tf.add_n([window(z, tap)[..., i, :] for i, tap in enumerate(taps)])
    columns = tf.concat([window(x, tap) for tap in taps], axis=-1)
    y = tf.matmul(tf.reshape(columns, (-1, len(taps) * c)), tf.reshape(kernel, (-1, f)))
    return tf.reshape(y, (-1, *out, f))
