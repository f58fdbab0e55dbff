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
decoder does O(T + H + W) work per step, with no branch: at step i it
computes the `row` value of position i - W (its row is complete by then) and
the `frame` value of position i - H * W (its frame and all that frame's
`row` values are complete by then). Each is first needed at exactly step i,
as the key below the query in its column and the key one frame back.

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


def _write_if(cache, position, rows, ok):
    """`cache[:, :, position] = rows` where `ok`, else unchanged; `rows` `[B, n, d]`."""
    position = tf.reshape(tf.maximum(position, 0), [1])
    old = _gather(cache, position)
    return _scatter(cache, position, tf.where(ok, rows[:, :, None], old))


def _attend_one(q, keys, values, softmax):
    """One query `[B, n, d]` over `[B, n, M, d]` keys and values, unmasked."""
    return tf.linalg.matvec(values, softmax(tf.linalg.matvec(keys, q), None), transpose_a=True)


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
    plane = h_size * w_size
    cq, ck, cv, crow, cframe = cache
    index = tf.cast(index, tf.int32)
    here = tf.reshape(index, [1])
    cq = _scatter(cq, here, q[:, :, None])
    ck = _scatter(ck, here, k[:, :, None])
    cv = _scatter(cv, here, v[:, :, None])
    t = index // plane
    h = (index // w_size) % h_size
    w = index % w_size

    # The row value of the position one row up (its row is now complete).
    above = index - w_size
    above_row = above - tf.math.floormod(above, w_size) + tf.range(w_size)
    above_pos = tf.reshape(tf.maximum(above, 0), [1])
    r = _attend_one(_gather(cq, above_pos)[:, :, 0], _gather(ck, tf.maximum(above_row, 0)),
                    _gather(cv, tf.maximum(above_row, 0)), softmax)
    crow = _write_if(crow, above, r, above >= 0)

    # The frame value of the position one frame back (its frame's row values are complete).
    back = index - plane
    back_col = back - tf.math.floormod(back, plane) + tf.range(h_size) * w_size + w
    back_pos = tf.reshape(tf.maximum(back, 0), [1])
    f = _attend_one(_gather(cq, back_pos)[:, :, 0], _gather(ck, tf.maximum(back_col, 0)),
                    _gather(crow, tf.maximum(back_col, 0)), softmax)
    cframe = _write_if(cframe, back, f, back >= 0)

    row_pos = index - w + tf.range(w_size)
    col_pos = t * plane + tf.range(h_size) * w_size + w
    time_pos = tf.range(t_size) * plane + h * w_size + w
    keys = tf.concat([_gather(ck, row_pos), _gather(ck, col_pos), _gather(ck, time_pos)], 2)
    values = tf.concat([_gather(cv, row_pos), _gather(crow, col_pos),
                        _gather(cframe, time_pos)], 2)
    mask = tf.concat([tf.range(w_size) <= w, tf.range(h_size) < h, tf.range(t_size) < t], 0)
    probs = softmax(tf.linalg.matvec(keys, q), mask)
    out = tf.linalg.matvec(values, probs, transpose_a=True)
    return out, (cq, ck, cv, crow, cframe)
