"""Multi-head attention over video grids: full, sparse or axial; causal or not; self or cross.

The same layer serves the VQ-VAE's axial blocks, the prior's causal
self-attention (full, strided block-sparse, or causal axial) and its
cross-attention to the conditioning frames. For the compiled sampler it also
has a single-position `decode_*` path that reads keys and values from a
static-shape cache.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt.layers import causal_axial
from keras_videogpt.layers.sparse_layout import StridedSparseLayout

# einsum equations for attention along one axis of [B, T, H, W, heads, d].
# The scores' last two dims are (query position, key position) on that axis.
_AXIAL_EQUATIONS = {
    1: ("bthwnd,bshwnd->bhwnts", "bhwnts,bshwnd->bthwnd"),
    2: ("bthwnd,btswnd->btwnhs", "btwnhs,btswnd->bthwnd"),
    3: ("bthwnd,bthsnd->bthnws", "bthnws,bthsnd->bthwnd"),
}
_NEG_INF = -1e9
# Causal full attention runs in this many query blocks (`GridAttention._causal_blocks`).
CAUSAL_BLOCKS = 4
# Axial attention along an axis of at most this many positions uses broadcast products
# (`GridAttention._along_short`).
SHORT_AXIS = 4


def side_by_side(kernels):
    """`[C, heads, d]` projection kernels as one `[C, sum of heads * d]` matrix, in order: one
    matrix product then projects through all of them."""
    flat = [ops.reshape(w, (w.shape[0], -1)) for w in kernels]
    return flat[0] if len(flat) == 1 else ops.concatenate(flat, axis=1)


def raster_coordinates(shape):
    """`[L, len(shape)]` int32 coordinates of each position in raster order."""
    grids = np.meshgrid(*[np.arange(s) for s in shape], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1).astype("int32")


@keras.saving.register_keras_serializable(package="keras_videogpt")
class GridAttention(keras.layers.Layer):
    """Multi-head scaled dot-product attention on `[B, T, H, W, C]` grids.

    Queries and keys have `C_q / heads` channels per head and values have
    `C_kv / heads`, as in the reference. Projections of q, k and v have no
    bias; the output projection has one. Scores are divided by
    `sqrt(head_dim)` and the softmax runs in float32.

    Patterns of self-attention:
    - full (`attention_axes=None`): every position, in raster order (T, then
      H, then W); causal if `causal`.
    - strided block-sparse (`sparse_block_size` set, causal only): the
      reference's layout (see `StridedSparseLayout`). Only the blocks a query
      may see are gathered and computed, in training and in decoding. As in
      the reference, no dropout is applied to its attention probabilities.
    - axial, not causal (`attention_axes` a tuple of grid axes, 1 = T,
      2 = H, 3 = W): the SUM of separate attentions along each axis, sharing
      the projections (the VQ-VAE's blocks use one axis per layer).
    - causal axial (`attention_axes=(1, 2, 3)`, `causal=True`): one softmax
      over the row so far, the whole rows above and the whole frames before,
      so every position sees all earlier positions at O(T + H + W) keys each
      (see `keras_videogpt.layers.causal_axial`).

    Args:
        num_heads: number of heads.
        attention_axes: `None` for full (or sparse) attention, else a tuple
            of grid axes from (1, 2, 3).
        causal: a position attends only to positions up to itself in raster
            order.
        dropout: dropout rate on the attention probabilities (training only;
            not applied by sparse attention).
        num_layers: the transformer depth, used only to scale the output
            projection's initialisation as the reference does.
        sparse_block_size: positions per block of strided sparse attention
            (32 in the reference), or None for dense attention.
        sparse_local_blocks: earlier blocks each block sees locally (4 in the
            reference).

    Call arguments:
        query: `[B, T, H, W, C_q]`.
        value: `[B, T', H', W', C_kv]` for cross-attention (full only);
            defaults to `query`.
        training: enables dropout.

    Example:
    >>> attn = GridAttention(num_heads=2, attention_axes=(1, 2, 3), causal=True)
    >>> attn(keras.ops.ones((1, 2, 4, 4, 8))).shape
    (1, 2, 4, 4, 8)
    """

    def __init__(self, num_heads, attention_axes=None, causal=False, dropout=0.0,
                 num_layers=1, sparse_block_size=None, sparse_local_blocks=4, **kwargs):
        super().__init__(**kwargs)
        self.num_heads = int(num_heads)
        if self.num_heads < 1:
            raise ValueError(f"num_heads must be >= 1; got {num_heads}.")
        if attention_axes is not None:
            attention_axes = tuple(int(a) for a in attention_axes)
            if not attention_axes or any(a not in (1, 2, 3) for a in attention_axes):
                raise ValueError(
                    "`attention_axes` must be None (full attention) or a tuple of "
                    f"grid axes from (1, 2, 3) for T, H, W; got {attention_axes}.")
            if causal and sorted(attention_axes) != [1, 2, 3]:
                raise ValueError("Causal axial attention attends along all three axes: "
                                 f"attention_axes must be (1, 2, 3); got {attention_axes}.")
        self.attention_axes = attention_axes
        self.causal = bool(causal)
        self.dropout = float(dropout)
        self.num_layers = int(num_layers)
        self.sparse_block_size = None if sparse_block_size is None else int(sparse_block_size)
        self.sparse_local_blocks = int(sparse_local_blocks)
        if self.sparse_block_size is not None and (attention_axes is not None or not causal):
            raise ValueError("Sparse attention is the reference's causal strided layout: it "
                             "needs causal=True and attention_axes=None.")
        self._dropout = keras.layers.Dropout(self.dropout)

    @property
    def pattern(self):
        """`"full"`, `"sparse"`, `"axial"` (not causal) or `"causal_axial"`."""
        if self.sparse_block_size is not None:
            return "sparse"
        if self.attention_axes is None:
            return "full"
        return "causal_axial" if self.causal else "axial"

    def build(self, query_shape, value_shape=None):
        cross = value_shape is not None
        value_shape = query_shape if value_shape is None else value_shape
        dim_q, dim_kv = int(query_shape[-1]), int(value_shape[-1])
        for name, dim in (("query", dim_q), ("value", dim_kv)):
            if dim % self.num_heads:
                raise ValueError(f"The {name} width {dim} is not divisible by "
                                 f"num_heads={self.num_heads}.")
        if self.attention_axes is not None and tuple(query_shape[1:4]) != tuple(value_shape[1:4]):
            raise ValueError("Axial attention needs keys on the same grid as the "
                             f"queries; got {query_shape} and {value_shape}.")
        if cross and self.pattern == "sparse":
            raise ValueError("Sparse attention is self-attention only, as in the reference.")
        self.grid_shape = tuple(query_shape[1:4])
        self.layout = None
        if self.pattern == "sparse":
            self.layout = StridedSparseLayout(self.grid_shape, self.sparse_block_size,
                                              self.sparse_local_blocks)
        self.key_dim = dim_q // self.num_heads
        self.value_dim = dim_kv // self.num_heads
        n = self.num_heads

        def normal(std):
            return keras.initializers.RandomNormal(stddev=std)

        self.query_kernel = self.add_weight(
            name="query_kernel", shape=(dim_q, n, self.key_dim),
            initializer=normal(1.0 / np.sqrt(dim_q)))
        self.key_kernel = self.add_weight(
            name="key_kernel", shape=(dim_kv, n, self.key_dim),
            initializer=normal(1.0 / np.sqrt(dim_kv)))
        self.value_kernel = self.add_weight(
            name="value_kernel", shape=(dim_kv, n, self.value_dim),
            initializer=normal(1.0 / np.sqrt(dim_kv)))
        self.output_kernel = self.add_weight(
            name="output_kernel", shape=(n, self.value_dim, dim_q),
            initializer=normal(1.0 / np.sqrt(dim_q * self.num_layers)))
        self.output_bias = self.add_weight(
            name="output_bias", shape=(dim_q,),
            initializer=keras.initializers.RandomUniform(
                -1.0 / np.sqrt(n * self.value_dim), 1.0 / np.sqrt(n * self.value_dim)))

    # ------------------------------------------------------------- softmax
    def _probs(self, scores, mask):
        """Scaled, masked softmax over the last axis, in float32, back in the scores' dtype."""
        dtype = scores.dtype
        scores = ops.cast(scores, "float32") / np.sqrt(self.key_dim).astype("float32")
        if mask is not None:
            scores = ops.where(mask, scores, _NEG_INF)
        # Softmax over rows of a rank-2 view: TF's oneDNN softmax refuses inputs of
        # rank > 5 at run time ("Input dims must be <= 5"), and axial scores have rank 6.
        shape = ops.shape(scores)
        keys = scores.shape[-1] if scores.shape[-1] is not None else shape[-1]
        probs = ops.softmax(ops.reshape(scores, (-1, keys)), axis=-1)
        return ops.cast(ops.reshape(probs, shape), dtype)

    def _softmax(self, scores, mask, training):
        return self._dropout(self._probs(scores, mask), training=training)

    # ------------------------------------------------------------- forward
    def call(self, query, value=None, training=None):
        value = query if value is None else value
        # Explicit subscripts: TF's gradient of an ellipsis einsum is ~100x slower.
        q = ops.einsum("bthwc,cnd->bthwnd", query, self.query_kernel)
        k = ops.einsum("bthwc,cnd->bthwnd", value, self.key_kernel)
        v = ops.einsum("bthwc,cnd->bthwnd", value, self.value_kernel)
        out = self.attend(q, k, v, training=training)
        out = ops.einsum("bthwnd,ndc->bthwc", out, self.output_kernel)
        return out + self.output_bias

    def attend(self, q, k, v, training=None):
        """The attention itself, between the projections: `[B, T, H, W, heads, d]` each.

        `call` is the input projections, this, and the output projection;
        `AxialBlock` runs its three attentions' projections together and calls
        this for each.
        """
        pattern = self.pattern
        if pattern == "full":
            out = self._full(q, k, v, training)
        elif pattern == "sparse":
            out = self._sparse(q, k, v)
        elif pattern == "causal_axial":
            out = causal_axial.attend(q, k, v, self._probs,
                                      lambda p: self._dropout(p, training=training))
        else:
            out = 0
            for axis in self.attention_axes:
                out = out + self._along(axis, q, k, v, training)
        return out

    def _full(self, q, k, v, training):
        grid = q.shape[1:4]
        b = ops.shape(q)[0]
        q = ops.reshape(q, (b, -1, self.num_heads, self.key_dim))
        k = ops.reshape(k, (b, -1, self.num_heads, self.key_dim))
        v = ops.reshape(v, (b, -1, self.num_heads, self.value_dim))
        length = q.shape[1]
        if self.causal:
            split = length % CAUSAL_BLOCKS == 0 and length >= 2 * CAUSAL_BLOCKS
            out = self._causal_blocks(q, k, v, training, CAUSAL_BLOCKS if split else 1)
        else:
            scores = ops.einsum("blnd,bmnd->bnlm", q, k)
            out = ops.einsum("bnlm,bmnd->blnd", self._softmax(scores, None, training), v)
        return ops.reshape(out, (b, *grid, self.num_heads, self.value_dim))

    def _causal_blocks(self, q, k, v, training, blocks):
        """Causal full attention in `blocks` query blocks, each against the keys up to its own
        end: the score blocks above the diagonal, which the mask would zero, are never
        computed (10 of 16 with `CAUSAL_BLOCKS`). The same probabilities as one masked
        softmax: a masked score's weight is exactly 0 in float32 either way. One block is
        the plain masked pass."""
        size = q.shape[1] // blocks
        diagonal = np.tril(np.ones((size, size), dtype=bool))
        outs = []
        for i in range(blocks):
            end = (i + 1) * size
            mask = np.concatenate([np.ones((size, i * size), dtype=bool), diagonal], axis=1)
            scores = ops.einsum("blnd,bmnd->bnlm", q[:, i * size:end], k[:, :end])
            probs = self._softmax(scores, mask, training)
            outs.append(ops.einsum("bnlm,bmnd->blnd", probs, v[:, :end]))
        return outs[0] if blocks == 1 else ops.concatenate(outs, axis=1)

    def _sparse(self, q, k, v):
        """Block-sparse attention: each query block against its gathered key blocks only."""
        layout = self.layout
        nb, bs = layout.num_blocks, layout.block_size
        table, _ = layout.block_table()
        b = ops.shape(q)[0]
        n = self.num_heads
        q = ops.reshape(q, (b, nb, bs, n, self.key_dim))
        k = ops.take(ops.reshape(k, (b, nb, bs, n, self.key_dim)), table, axis=1)
        v = ops.take(ops.reshape(v, (b, nb, bs, n, self.value_dim)), table, axis=1)
        width = table.shape[1] * bs
        k = ops.reshape(k, (b, nb, width, n, self.key_dim))
        v = ops.reshape(v, (b, nb, width, n, self.value_dim))
        scores = ops.einsum("brqnd,brknd->brnqk", q, k)
        probs = self._probs(scores, layout.gathered_mask()[:, None])
        out = ops.einsum("brnqk,brknd->brqnd", probs, v)
        return ops.reshape(out, (b, *self.grid_shape, n, self.value_dim))

    def _along(self, axis, q, k, v, training):
        if q.shape[axis] is not None and q.shape[axis] <= SHORT_AXIS:
            return self._along_short(axis, q, k, v, training)
        score_eq, out_eq = _AXIAL_EQUATIONS[axis]
        probs = self._softmax(ops.einsum(score_eq, q, k), None, training)
        return ops.einsum(out_eq, probs, v)

    def _along_short(self, axis, q, k, v, training):
        """`_along` for an axis of a few positions, as products and sums instead of einsums.

        The einsums batch one tiny matrix product per line of the grid (4x4 scores
        for each of the 1024 x heads lines along T of bair's 4x32x32 latent), which
        XLA on CPU runs one by one; broadcast products fuse into a few loops. On the
        bair block's T axis this took 3.7 against 4.8 ms forward and 10.9 against
        14.9 ms with its gradient (4.1 against 11.4 ms for `tiny` at batch 8);
        along 8 positions the forward pass was slower (9.2 against 7.1 ms).
        """
        # Keys of the axis moved next to the channels: [B, 1, H, W, n, S, d] for axis 1.
        keys = ops.expand_dims(ops.moveaxis(k, axis, 4), axis)
        values = ops.expand_dims(ops.moveaxis(v, axis, 4), axis)
        scores = ops.sum(ops.expand_dims(q, 5) * keys, axis=-1)   # [B, T, H, W, n, S]
        probs = self._softmax(scores, None, training)
        return ops.sum(ops.expand_dims(probs, -1) * values, axis=5)

    # ---------------------------------------------------------------- decode
    def project_key_value(self, value):
        """Keys and values of `value` as a cross-attention cache, `[B, heads, d, M]` each
        (positions last, as full attention's decode cache: see `empty_cache`)."""
        b = ops.shape(value)[0]
        flat = ops.reshape(value, (b, -1, value.shape[-1]))
        k = ops.einsum("blc,cnd->bndl", flat, self.key_kernel)
        v = ops.einsum("blc,cnd->bndl", flat, self.value_kernel)
        return k, v

    def empty_cache(self, batch_size, dtype="float32"):
        """The zeroed decode cache for the whole grid: a tuple of `[B, heads, ...]` tensors.

        Full attention keeps `(keys, values)` as `[B, heads, d, L]`, positions
        last: a decode step reads every cached position, and the products
        `keys^T q` and `values p` over rows of contiguous positions stream
        memory about twice as fast on CPU as over `[L, d]` rows (the sampler
        is bound by these reads; `bench/bandwidth.py`). A step writes its
        column in place with `tensor_scatter_nd_update`.

        Sparse attention keeps `(keys, values)` and causal axial attention
        `(queries, keys, values, row values, frame values)` as `[B, heads, L, d]`,
        positions third: their steps gather a few whole rows.
        """
        if self.pattern == "axial":
            raise ValueError("Non-causal axial attention cannot be decoded position by position.")
        length = int(np.prod(self.grid_shape))
        if self.pattern == "full":
            return (ops.zeros((batch_size, self.num_heads, self.key_dim, length), dtype),
                    ops.zeros((batch_size, self.num_heads, self.value_dim, length), dtype))
        shape_k = (batch_size, self.num_heads, length, self.key_dim)
        shape_v = (batch_size, self.num_heads, length, self.value_dim)
        if self.pattern == "causal_axial":
            return tuple(ops.zeros(s, dtype) for s in (shape_k, shape_k, shape_v, shape_v, shape_v))
        return ops.zeros(shape_k, dtype), ops.zeros(shape_v, dtype)

    def open_segment(self, cache, begin, end):
        """The decode state for positions `begin` to `end - 1` (Python ints) of a full cache.

        Full attention then reads the keys before `begin` as one tensor, copied
        here once for the whole segment, and the segment's own positions, which
        the steps write: `(keys, values)` of the segment when `begin` is 0, else
        `(past keys, past values, keys, values)`. The cache past `end` is not
        read, and no step copies a slice (XLA copies a slice before a dot reads
        it). Other patterns read a few rows per step anyway: their state is the
        cache. `close_segment` puts the segment back.
        """
        length = int(np.prod(self.grid_shape))
        if self._segment_is_cache(begin, end):
            return cache
        if not 0 <= begin < end <= length:
            raise ValueError(f"A segment must satisfy 0 <= begin < end <= {length}; "
                             f"got [{begin}, {end}).")
        k, v = cache
        segment = (k[..., begin:end], v[..., begin:end])
        return segment if begin == 0 else (k[..., :begin], v[..., :begin]) + segment

    def close_segment(self, cache, state, begin, end):
        """The whole cache again, with the segment's positions from `state` (see `open_segment`)."""
        if self._segment_is_cache(begin, end):
            return state
        return tuple(tf.concat([whole[..., :begin], written, whole[..., end:]], axis=3)
                     for whole, written in zip(cache, state[-2:]))

    def _segment_is_cache(self, begin, end):
        """Whether a segment's decode state is the cache itself: other patterns, or all of it."""
        return self.pattern != "full" or (begin, end) == (0, int(np.prod(self.grid_shape)))

    @staticmethod
    def _write_row(cache, index, row):
        """`cache[:, :, index] = row` for `[B, heads, L, d]` caches, `row` `[B, heads, d]`."""
        shape = tf.shape(row)
        b, n = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]), indexing="ij")
        where = tf.stack([b, n, tf.fill(shape[:2], tf.cast(index, tf.int32))], -1)
        return tf.tensor_scatter_nd_update(cache, where, row)

    @staticmethod
    def _write_column(cache, index, column):
        """`cache[..., index] = column` for `[B, heads, d, L]` caches, `column` `[B, heads, d]`."""
        shape = tf.shape(column)
        b, n, d = tf.meshgrid(tf.range(shape[0]), tf.range(shape[1]), tf.range(shape[2]),
                              indexing="ij")
        where = tf.stack([b, n, d, tf.fill(shape, tf.cast(index, tf.int32))], -1)
        return tf.tensor_scatter_nd_update(cache, where, column)

    def _attend_cache(self, q, cache_k, cache_v, mask):
        """Attention of one query per head `[B, heads, d]` over `[B, heads, M, d]` caches
        (sparse attention's gathered rows)."""
        probs = self._probs(tf.linalg.matvec(cache_k, q), mask)
        return tf.linalg.matvec(cache_v, probs, transpose_a=True)

    def _attend_columns(self, q, cache_k, cache_v, mask):
        """Attention of one query per head `[B, heads, d]` over `[B, heads, d, M]` caches."""
        probs = self._probs(tf.linalg.matvec(cache_k, q, transpose_a=True), mask)
        return tf.linalg.matvec(cache_v, probs)

    def _decode_full(self, q, k, v, state, index):
        """Full attention at `index`, writing its column into the segment (see `open_segment`)."""
        past = state[:-2]
        begin = int(past[0].shape[3]) if past else 0
        local = index - begin
        seg_k = self._write_column(state[-2], local, k)
        seg_v = self._write_column(state[-1], local, v)
        mask = ops.arange(int(seg_k.shape[3]), dtype="int32") <= local
        if not past:
            return self._attend_columns(q, seg_k, seg_v, mask), (seg_k, seg_v)
        scores = tf.concat([tf.linalg.matvec(past[0], q, transpose_a=True),
                            tf.linalg.matvec(seg_k, q, transpose_a=True)], axis=-1)
        probs = self._probs(scores, tf.concat([tf.ones((begin,), tf.bool), mask], axis=0))
        out = (tf.linalg.matvec(past[1], probs[..., :begin])
               + tf.linalg.matvec(seg_v, probs[..., begin:]))
        return out, (past[0], past[1], seg_k, seg_v)

    def _decode_sparse(self, q, cache_k, cache_v, index):
        """Reads only the key blocks that the query's block may see."""
        layout = self.layout
        bs = layout.block_size
        table, valid = layout.block_table()
        row = index // bs
        blocks = tf.gather(tf.constant(table), row)                          # [K]
        positions = tf.reshape(blocks[:, None] * bs + tf.range(bs)[None], [-1])
        ok = tf.reshape(tf.repeat(tf.gather(tf.constant(valid), row), bs), [-1])
        mask = tf.logical_and(ok, positions <= index)
        keys = tf.gather(cache_k, positions, axis=2)
        values = tf.gather(cache_v, positions, axis=2)
        return self._attend_cache(q, keys, values, mask)

    def _project(self, query, kernels):
        """`query` `[B, C]` through each `[C, heads, d]` kernel: a `[B, heads, d]` each.

        At batch 1 (one video, as served), XLA on CPU compiles
        `einsum("bc,cnd->bnd")` into a loop fusion that computes each output as
        a scalar loop. One matrix product of the kernels side by side avoids it:
        the three projections of a 192-wide prior take 6-10 us a step instead of
        46-60, of a 576-wide one 37 instead of 270, and the ref-tiny sampler
        draws 2-3x the tokens/s (`bench/compare.py`). At larger batches the
        einsums are already matrix products, and slicing one product's output
        costs more than it saves, so they stay.
        """
        if query.shape[0] != 1:
            return [ops.einsum("bc,cnd->bnd", query, w) for w in kernels]
        n, d = self.num_heads, self.key_dim
        out = ops.matmul(query, side_by_side(kernels))
        return [ops.reshape(out[:, i * n * d:(i + 1) * n * d], (1, n, d))
                for i in range(len(kernels))]

    def decode_self(self, query, cache, index):
        """One causal self-attention step at raster position `index`.

        Args:
            query: `[B, C]`, the normalised input at this position.
            cache: the tuple from `empty_cache` or `open_segment` (or a
                previous step).
            index: int32 scalar tensor, inside the segment for a state from
                `open_segment`.

        Returns:
            `(output [B, C], cache)`.
        """
        q, k, v = self._project(query, (self.query_kernel, self.key_kernel,
                                        self.value_kernel))
        if self.pattern == "causal_axial":
            out, cache = causal_axial.decode(q, k, v, cache, index, self.grid_shape,
                                             self._probs)
        elif self.pattern == "sparse":
            cache_k = self._write_row(cache[0], index, k)
            cache_v = self._write_row(cache[1], index, v)
            cache = (cache_k, cache_v)
            out = self._decode_sparse(q, cache_k, cache_v, index)
        else:
            out, cache = self._decode_full(q, k, v, cache, index)
        y = ops.einsum("bnd,ndc->bc", out, self.output_kernel) + self.output_bias
        return y, cache

    def decode_cross(self, query, cache_k, cache_v):
        """One cross-attention step against `[B, heads, d, M]` keys/values (`project_key_value`)."""
        q, = self._project(query, (self.query_kernel,))
        out = self._attend_columns(q, cache_k, cache_v, None)
        return ops.einsum("bnd,ndc->bc", out, self.output_kernel) + self.output_bias

    def get_config(self):
        config = super().get_config()
        config.update(num_heads=self.num_heads, attention_axes=self.attention_axes,
                      causal=self.causal, dropout=self.dropout,
                      num_layers=self.num_layers, sparse_block_size=self.sparse_block_size,
                      sparse_local_blocks=self.sparse_local_blocks)
        return config


# Layer configs serialized before the rename name this class "keras_videogpt>MultiHeadAttention".
keras.saving.get_custom_objects()["keras_videogpt>MultiHeadAttention"] = GridAttention
