"""Causal axial attention over `[T, H, W]` grids that conditions on the whole past.

Plain causal axial attention, attending along each axis only up to the
query, leaves most of the past unseen: the code at (t, h, w) never reaches
the end of the row above, nor most of the previous frame, at any depth. This
module extends the Axial Transformer's idea (Ho et al., 2019: a context over
earlier rows, plus a masked attention within the row) to three axes, inside
one attention layer.

What the query at (t, h, w) sees, in one softmax over at most T + H + W keys:

- **its row so far**: keys and values at (t, h, w') for w' <= w;
- **the rows above, whole**: keys at (t, h', w) for h' < h, whose values are
  `row[t, h', w]`, an unmasked attention along the whole row (t, h', :);
- **the frames before, whole**: keys at (t', h, w) for t' < t, whose values
  are `frame[t', h, w]`, an unmasked attention along the column (t', :, w)
  over the `row` values, so each carries all of frame t'.

Why nothing later leaks: the row part is masked to w' <= w. A `row` value of
row (t, h') mixes only positions of that row, all of which come before
(t, h, w) in raster order because h' < h. A `frame` value of frame t' mixes
only positions of frame t' < t. The keys of both parts sit at those earlier
positions too.

Why everything earlier is seen: the positions before (t, h, w) in raster order
are exactly the row prefix, the whole rows h' < h of frame t and the whole
frames t' < t, and each reaches the query through the part above. So one
layer already conditions every code on all earlier codes; more layers add
capacity, not reach.

Cost per layer: the three unmasked/masked attentions cost O(L * (T + H + W))
for L = T * H * W positions, against O(L^2) for full attention. The cached
decoder reads O(T + H + W) keys per step, and computes the `row` values of a
row once it is complete (O(W^2) per row) and the `frame` values of a frame
once it is complete (O(H^2 W) per frame): amortised O(W + H) per step.

All functions work on per-head projections `[B, T, H, W, heads, d]`.
"""

import numpy as np
import tensorflow as tf
from keras import ops


def _row(q, k, v, softmax):
    """Unmasked attention along W: `[B, T, H, W, n, dv]`."""
    probs = softmax(ops.einsum("bthwnd,bthsnd->bthnws", q, k), None)
    return ops.einsum("bthnws,bthsnd->bthwnd", probs, v)


def _frame(q, k, row, softmax):
    """Unmasked attention along H over the `row` values: `[B, T, H, W, n, dv]`."""
    probs = softmax(ops.einsum("bthwnd,btswnd->btwnhs", q, k), None)
    return ops.einsum("btwnhs,btswnd->bthwnd", probs, row)


def joint_mask(grid):
    """`[T, H, W, 1, W + H + T]` bool: which row / column / time keys a query may see."""
    t, h, w = grid
    row = np.arange(w)[None, :] <= np.arange(w)[:, None]           # [w, w']
    col = np.arange(h)[None, :] < np.arange(h)[:, None]            # [h, h']
    time = np.arange(t)[None, :] < np.arange(t)[:, None]           # [t, t']
    mask = np.concatenate([
        np.broadcast_to(row[None, None], (t, h, w, w)),
        np.broadcast_to(col[None, :, None], (t, h, w, h)),
        np.broadcast_to(time[:, None, None], (t, h, w, t))], axis=-1)
    return mask[:, :, :, None, :]


def attend(q, k, v, softmax, dropout=None):
    """Causal axial attention of every position, teacher-forced.

    Args:
        q, k: `[B, T, H, W, n, d]`; v: `[B, T, H, W, n, dv]`.
        softmax: `(scores, mask) -> probabilities` over the last axis.
        dropout: optional `probs -> probs` for the joint attention.

    Returns:
        `[B, T, H, W, n, dv]`.
    """
    t, h, w = q.shape[1:4]
    row = _row(q, k, v, softmax)
    frame = _frame(q, k, row, softmax)
    scores = ops.concatenate([
        ops.einsum("bthwnd,bthsnd->bthwns", q, k),   # along the row
        ops.einsum("bthwnd,btswnd->bthwns", q, k),   # rows above
        ops.einsum("bthwnd,bshwnd->bthwns", q, k),   # frames before
    ], axis=-1)
    probs = softmax(scores, joint_mask((t, h, w)))
    if dropout is not None:
        probs = dropout(probs)
    p_row, p_col, p_time = probs[..., :w], probs[..., w:w + h], probs[..., w + h:]
    return (ops.einsum("bthwns,bthsnd->bthwnd", p_row, v)
            + ops.einsum("bthwns,btswnd->bthwnd", p_col, row)
            + ops.einsum("bthwns,bshwnd->bthwnd", p_time, frame))


# ------------------------------------------------------------------ decoding
def _gather(cache, positions):
    return tf.gather(cache, positions, axis=2)


def _scatter(cache, positions, rows):
    """`cache[:, :, positions] = rows` for `[B, n, L, d]` caches and `[B, n, P, d]` rows."""
    shape = tf.shape(rows)
    b, n, p = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]), positions, indexing="ij")
    return tf.tensor_scatter_nd_update(cache, tf.stack([b, n, p], -1), rows)


def decode(q, k, v, cache, index, grid, softmax):
    """One causal axial step at raster `index`, reading and updating the cache.

    Args:
        q, k: `[B, n, d]`; v: `[B, n, dv]`, the projections at `index`.
        cache: `(q, k, v, row, frame)` caches, `[B, n, L, d or dv]` each.
        index: int32 scalar.
        grid: `(T, H, W)`.
        softmax: as in `attend`.

    Returns:
        `(out [B, n, dv], cache)`.
    """
    t_size, h_size, w_size = grid
    cq, ck, cv, crow, cframe = cache
    index = tf.cast(index, tf.int32)
    here = tf.reshape(index, [1])
    cq = _scatter(cq, here, q[:, :, None])
    ck = _scatter(ck, here, k[:, :, None])
    cv = _scatter(cv, here, v[:, :, None])
    t = index // (h_size * w_size)
    h = (index // w_size) % h_size
    w = index % w_size
    row_start = index - w
    row_pos = row_start + tf.range(w_size)
    col_pos = t * h_size * w_size + tf.range(h_size) * w_size + w
    time_pos = tf.range(t_size) * h_size * w_size + h * w_size + w
    keys = tf.concat([_gather(ck, row_pos), _gather(ck, col_pos), _gather(ck, time_pos)], 2)
    values = tf.concat([_gather(cv, row_pos), _gather(crow, col_pos),
                        _gather(cframe, time_pos)], 2)
    mask = tf.concat([tf.range(w_size) <= w, tf.range(h_size) < h, tf.range(t_size) < t], 0)
    probs = softmax(tf.linalg.matvec(keys, q), mask)
    out = tf.linalg.matvec(values, probs, transpose_a=True)

    def finish_row(crow):
        qr, kr, vr = _gather(cq, row_pos), _gather(ck, row_pos), _gather(cv, row_pos)
        p = softmax(tf.matmul(qr, kr, transpose_b=True), None)
        return _scatter(crow, row_pos, tf.matmul(p, vr))

    crow = tf.cond(tf.equal(w, w_size - 1), lambda: finish_row(crow), lambda: crow)

    def finish_frame(cframe):
        frame_pos = row_start - h * w_size + tf.range(h_size * w_size)
        shape = tf.shape(q)

        def columns(cache):  # [B, n, H, W, d] -> [B, n, W, H, d]
            x = _gather(cache, frame_pos)
            x = tf.reshape(x, tf.concat([shape[:2], [h_size, w_size], tf.shape(x)[-1:]], 0))
            return tf.transpose(x, [0, 1, 3, 2, 4])

        qc, kc, rc = columns(cq), columns(ck), columns(crow)
        p = softmax(tf.matmul(qc, kc, transpose_b=True), None)
        f = tf.transpose(tf.matmul(p, rc), [0, 1, 3, 2, 4])
        f = tf.reshape(f, tf.concat([shape[:2], [h_size * w_size], tf.shape(f)[-1:]], 0))
        return _scatter(cframe, frame_pos, f)

    last = tf.logical_and(tf.equal(w, w_size - 1), tf.equal(h, h_size - 1))
    cframe = tf.cond(last, lambda: finish_frame(cframe), lambda: cframe)
    return out, (cq, ck, cv, crow, cframe)
