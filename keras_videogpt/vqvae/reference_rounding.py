"""Codebook distances rounded as the reference's PyTorch CPU kernels round them.

The reference picks a code with `argmin(|z|^2 - 2 z.e + |e|^2)` in float32.
Where the two nearest codes lie within a few float32 ulps of each other, the
winner depends on the order in which the kernels add: the exact (float64)
nearest code and the reference's pick then differ, about once in a thousand
positions. This module rebuilds the reference's float32 results bit for
bit, in stock TF ops, so that the quantizer given the reference's `z`
returns exactly the reference's codes (the parity test checks all 2048 of
the fixture's). End to end, our encoder's `z` differs from the reference's
in the last bit or two (a few 1e-7), and that alone re-decides the rare
near-ties, whichever rounding the quantizer uses. What it rebuilds:

- **Sums of squares** (`torch.sum` over a contiguous axis): each element is
  squared and rounded, then added into four accumulators of 8 lanes, 32
  elements per round (the AVX2 vectorised reduction). Leftover groups of 8
  go into the first accumulator. The four accumulators are added in order,
  then the 8 lanes in order, then any scalar tail in order.
- **Dot products** (MKL `sgemm`): each output is a sequential fused
  multiply-add over the inner axis, in blocks: one block up to 192, two
  halves up to 384, blocks of 192 beyond. Block results are added in order.
  A fused multiply-add is emulated in float64 (the product of two float32
  numbers is exact there) and rounded to float32 after every step.

Measured against PyTorch 2.13 on x86-64, these reproduce its float32 values
exactly for widths that are multiples of 8 up to 512 (the reference uses 64
and 256); `tests/data/torch_rounding.npz` holds the check. Other widths, or
another BLAS, give results within float32 rounding, not bit for bit. The
float64 emulation itself rounds twice, which differs from one rounding in
about one case in 2^29.

Only the few candidates that the fast float32 distances rank nearest are
recomputed this way, so the cost is small next to the distance matmul.
"""

import tensorflow as tf

LANES = 8
ACCUMULATORS = 4
MAX_BLOCK = 192


def row_sum(x):
    """Sum over the last (static) axis of float32 `x`, in PyTorch's CPU order."""
    width = x.shape[-1]
    lead = tf.shape(x)[:-1]
    step = LANES * ACCUMULATORS
    acc = tf.zeros(tf.concat([lead, [ACCUMULATORS, LANES]], 0), x.dtype)
    for j in range(width // step):
        chunk = x[..., j * step:(j + 1) * step]
        acc = acc + tf.reshape(chunk, tf.concat([lead, [ACCUMULATORS, LANES]], 0))
    first = acc[..., 0, :]
    j = width // step * step
    while j + LANES <= width:
        first = first + x[..., j:j + LANES]
        j += LANES
    lanes = first
    for a in range(1, ACCUMULATORS):
        lanes = lanes + acc[..., a, :]
    total = lanes[..., 0]
    for lane in range(1, LANES):
        total = total + lanes[..., lane]
    for k in range(j, width):
        total = total + x[..., k]
    return total


def gemm_blocks(width):
    """`(start, stop)` of the inner-axis blocks that MKL sums separately."""
    if width <= MAX_BLOCK:
        size = width
    elif width <= 2 * MAX_BLOCK:
        size = (width + 1) // 2
    else:
        size = MAX_BLOCK
    return [(start, min(start + size, width)) for start in range(0, width, size)]


def _fma_sequence(x, y):
    """Sequential fused multiply-add of `sum(x * y, -1)`, rounded to float32 each step."""
    xs = tf.cast(tf.experimental.numpy.moveaxis(x, -1, 0), tf.float64)
    ys = tf.cast(tf.experimental.numpy.moveaxis(y, -1, 0), tf.float64)

    def step(total, pair):
        xk, yk = pair
        return tf.cast(tf.cast(total, tf.float64) + xk * yk, tf.float32)

    start = tf.zeros(tf.shape(xs * ys)[1:], tf.float32)
    return tf.foldl(step, (xs, ys), initializer=start)


def dot(x, y):
    """`sum(x * y, -1)` of broadcastable float32 tensors, rounded as MKL's sgemm."""
    total = None
    for start, stop in gemm_blocks(x.shape[-1]):
        part = _fma_sequence(x[..., start:stop], y[..., start:stop])
        total = part if total is None else total + part
    return total


def nearest(flat, codebook, fast_distances, candidates=4):
    """The reference's argmin over codes, rechecked on the nearest few candidates.

    Args:
        flat: float32 `[N, D]` vectors.
        codebook: float32 `[K, D]` codes.
        fast_distances: float32 `[N, K]` distances, used only to rank.
        candidates: how many of the nearest codes are rechecked.

    Returns:
        int32 `[N]`: the code with the smallest reference-rounded distance,
        the lowest index on ties (as `torch.argmin`).
    """

    n_codes = codebook.shape[0]
    k = min(candidates, n_codes)
    _, index = tf.math.top_k(-fast_distances, k)                  # [N, k]
    vectors = tf.gather(codebook, index)                           # [N, k, D]
    norms = tf.gather(row_sum(tf.square(codebook)), index)         # [N, k]
    inputs = row_sum(tf.square(flat))[:, None]                     # [N, 1]
    products = dot(flat[:, None, :], vectors)                      # [N, k]
    distances = (inputs - 2.0 * products) + norms
    best = tf.reduce_min(distances, axis=1, keepdims=True)
    tied = tf.where(distances == best, index, n_codes)
    return tf.cast(tf.reduce_min(tied, axis=1), tf.int32)
