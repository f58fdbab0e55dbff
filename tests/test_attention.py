import numpy as np
import pytest

from keras_videogpt.layers.grid_attention import GridAttention, raster_coordinates
from keras_videogpt.layers.sparse_layout import StridedSparseLayout

# Small grids and blocks so that sparse attention really skips blocks.
SPARSE = dict(sparse_block_size=3, sparse_local_blocks=1)
PATTERNS = {"full": dict(), "causal_axial": dict(attention_axes=(1, 2, 3)), "sparse": SPARSE}


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def reference_full(layer, q_in, kv_in, causal):
    """Numpy multi-head attention over flattened positions (`causal` may be an [L, L] mask)."""
    b = q_in.shape[0]
    qf = q_in.reshape(b, -1, q_in.shape[-1])
    kf = kv_in.reshape(b, -1, kv_in.shape[-1])
    q = np.einsum("blc,cnd->bnld", qf, layer.query_kernel.numpy())
    k = np.einsum("blc,cnd->bnld", kf, layer.key_kernel.numpy())
    v = np.einsum("blc,cnd->bnld", kf, layer.value_kernel.numpy())
    s = np.einsum("bnld,bnmd->bnlm", q, k) / np.sqrt(q.shape[-1])
    if causal is not False:
        mask = np.tril(np.ones(s.shape[-2:], bool)) if causal is True else causal
        s = np.where(mask, s, -np.inf)
    out = np.einsum("bnlm,bnmd->blnd", softmax(s), v)
    y = np.einsum("blnd,ndc->blc", out, layer.output_kernel.numpy()) + layer.output_bias.numpy()
    return y.reshape(q_in.shape[:-1] + (y.shape[-1],))


def test_full_attention_matches_numpy(rng):
    x = rng.normal(size=(2, 2, 3, 3, 8)).astype("float32")
    layer = GridAttention(2)
    np.testing.assert_allclose(layer(x).numpy(), reference_full(layer, x, x, False), atol=1e-5)


@pytest.mark.parametrize("grid", [(2, 3, 4), (1, 3, 3)], ids=["4_blocks", "one_block"])
def test_causal_full_attention_matches_numpy(rng, grid):
    """24 positions run in CAUSAL_BLOCKS query blocks, 9 (not divisible) as one masked pass."""
    x = rng.normal(size=(2, *grid, 8)).astype("float32")
    layer = GridAttention(2, causal=True)
    np.testing.assert_allclose(layer(x).numpy(), reference_full(layer, x, x, True), atol=1e-5)


def test_cross_attention_uses_value_width(rng):
    x = rng.normal(size=(2, 2, 3, 3, 8)).astype("float32")
    cond = rng.normal(size=(2, 1, 2, 2, 12)).astype("float32")
    layer = GridAttention(4)
    y = layer(x, cond).numpy()
    assert layer.value_dim == 3 and y.shape == x.shape
    np.testing.assert_allclose(y, reference_full(layer, x, cond, False), atol=1e-5)


@pytest.mark.parametrize("axis", [1, 2, 3])
def test_axial_attention_is_full_attention_along_each_line(rng, axis):
    # Lines of 3 and 4 positions take the broadcast form (`SHORT_AXIS`), of 5 the einsums.
    x = rng.normal(size=(1, 3, 4, 5, 8)).astype("float32")
    layer = GridAttention(2, attention_axes=(axis,))
    y = layer(x).numpy()
    # Move the axis last among the grid axes; every line is an independent sequence.
    xm = np.moveaxis(x, axis, 3)
    lines = xm.reshape(-1, 1, 1, xm.shape[3], 8)
    expected = np.stack([reference_full(layer, l[None], l[None], False)[0] for l in lines])
    expected = np.moveaxis(expected.reshape(xm.shape), 3, axis)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_short_axes_give_the_einsums_values_and_gradients(rng, monkeypatch):
    import tensorflow as tf

    from keras_videogpt.layers import grid_attention

    x = tf.constant(rng.normal(size=(2, 4, 3, 2, 8)).astype("float32"))
    layer = GridAttention(2, attention_axes=(1, 2, 3))
    layer.build(x.shape)

    def run():
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.sin(y))
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x] + layer.weights)]

    short = run()
    monkeypatch.setattr(grid_attention, "SHORT_AXIS", 0)
    for a, b in zip(short, run()):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_axial_attention_runs_in_a_graph_with_gradients(rng, causal):
    # Inside tf.function, TF's oneDNN build (x86 CPUs with AVX-512) swaps in a
    # softmax kernel that fails at run time on inputs of rank > 5; axial scores
    # have rank 6. Eager mode never shows this, `fit` always does.
    import tensorflow as tf

    x = tf.constant(rng.normal(size=(2, 3, 4, 5, 8)).astype("float32"))
    layer = GridAttention(2, attention_axes=(1, 2, 3), causal=causal, dropout=0.1)
    eager = layer(x).numpy()

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * y) + tf.reduce_sum(layer(x, training=True))
        return y, tape.gradient(loss, [x] + layer.trainable_variables)

    y, grads = step(x)
    np.testing.assert_allclose(y.numpy(), eager, atol=1e-5)
    assert all(np.isfinite(g.numpy()).all() and np.abs(g.numpy()).sum() > 0 for g in grads)


def projections(layer, x):
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    return [np.einsum("blc,cnd->blnd", flat, kernel.numpy()) for kernel in
            (layer.query_kernel, layer.key_kernel, layer.value_kernel)]


def reference_causal_axial(layer, x):
    """Position by position, as the module docstring states it, in numpy loops."""
    b, t_size, h_size, w_size, c = x.shape
    q, k, v = projections(layer, x)
    scale = np.sqrt(q.shape[-1])
    idx = lambda t, h, w: (t * h_size + h) * w_size + w

    def attend(query, keys, values):  # [B, n, d], [B, M, n, d], [B, M, n, dv]
        return np.einsum("bnm,bmnd->bnd", softmax(np.einsum("bnd,bmnd->bnm", query, keys) / scale),
                         values)

    row = np.zeros_like(v)
    for t in range(t_size):
        for h in range(h_size):
            line = [idx(t, h, w) for w in range(w_size)]
            for p in line:
                row[:, p] = attend(q[:, p], k[:, line], v[:, line])
    frame = np.zeros_like(v)
    for t in range(t_size):
        for w in range(w_size):
            line = [idx(t, h, w) for h in range(h_size)]
            for p in line:
                frame[:, p] = attend(q[:, p], k[:, line], row[:, line])
    out = np.zeros_like(v)
    for t in range(t_size):
        for h in range(h_size):
            for w in range(w_size):
                keys = [idx(t, h, j) for j in range(w + 1)]
                cols = [idx(t, i, w) for i in range(h)]
                times = [idx(i, h, w) for i in range(t)]
                values = np.concatenate([v[:, keys], row[:, cols], frame[:, times]], 1)
                out[:, idx(t, h, w)] = attend(q[:, idx(t, h, w)], k[:, keys + cols + times],
                                              values)
    y = np.einsum("blnd,ndc->blc", out, layer.output_kernel.numpy()) + layer.output_bias.numpy()
    return y.reshape(x.shape[:-1] + (y.shape[-1],))


def test_causal_axial_attention_matches_its_definition(rng):
    x = rng.normal(size=(2, 3, 4, 5, 8)).astype("float32")
    layer = GridAttention(2, attention_axes=(1, 2, 3), causal=True)
    np.testing.assert_allclose(layer(x).numpy(), reference_causal_axial(layer, x), atol=1e-5)


def test_sparse_attention_equals_dense_attention_under_the_layout_mask(rng):
    # A 2x4x2 block grid: strided global blocks along two axes.
    x = rng.normal(size=(2, 2, 4, 6, 8)).astype("float32")
    layer = GridAttention(2, causal=True, **SPARSE)
    layout = StridedSparseLayout((2, 4, 6), 3, 1)
    assert layout.block_shape == (2, 4, 2)
    mask = layout.position_mask()
    assert 0 < mask.sum() < np.tri(48).sum()  # some earlier positions are skipped
    np.testing.assert_allclose(layer(x).numpy(), reference_full(layer, x, x, mask), atol=1e-5)


def test_sparse_attention_applies_no_dropout(rng):
    x = rng.normal(size=(2, 2, 3, 3, 8)).astype("float32")
    layer = GridAttention(2, causal=True, dropout=0.5, **SPARSE)
    np.testing.assert_allclose(layer(x, training=True).numpy(), layer(x).numpy(), atol=1e-6)
    dense = GridAttention(2, causal=True, dropout=0.5)
    assert not np.allclose(dense(x, training=True).numpy(), dense(x).numpy())


def test_strided_sparse_layout_of_the_bair_latent():
    layout = StridedSparseLayout((4, 32, 32))
    assert layout.block_shape == (4, 32) and layout.num_blocks == 128
    blocks = layout.block_layout()
    assert not np.triu(blocks, 1).any()                       # causal
    assert blocks[40, 36:41].all() and not blocks[40, 35]     # itself and the 4 before
    assert np.flatnonzero(blocks[72]).tolist() == [8, 40, 68, 69, 70, 71, 72]  # + earlier frames
    assert blocks.sum(1).max() == layout.block_table()[0].shape[1] == 8
    with pytest.raises(ValueError, match="multiple of 32"):
        StridedSparseLayout((3, 4, 5))


@pytest.mark.parametrize("name", list(PATTERNS))
def test_causal_attention_never_looks_ahead(rng, name):
    x = rng.normal(size=(1, 2, 3, 3, 8)).astype("float32")
    layer = GridAttention(2, causal=True, **PATTERNS[name])
    base = layer(x).numpy().reshape(-1, 8)
    for pos in range(1, 18):
        changed = x.reshape(1, -1, 8).copy()
        changed[0, pos:] += 5.0
        out = layer(changed.reshape(x.shape)).numpy().reshape(-1, 8)
        np.testing.assert_allclose(out[:pos], base[:pos], atol=1e-5)
        assert not np.allclose(out[pos], base[pos])


@pytest.mark.parametrize("batch", [1, 2])  # batch 1 projects q, k, v as one matmul
@pytest.mark.parametrize("name", list(PATTERNS))
def test_cached_decode_matches_full_causal_pass(rng, name, batch):
    x = rng.normal(size=(batch, 2, 3, 3, 8)).astype("float32")
    layer = GridAttention(2, causal=True, **PATTERNS[name])
    full = layer(x).numpy().reshape(batch, -1, 8)
    cache = layer.empty_cache(batch)
    flat = x.reshape(batch, -1, 8)
    for i in range(flat.shape[1]):
        y, cache = layer.decode_self(flat[:, i], cache, np.int32(i))
        np.testing.assert_allclose(y.numpy(), full[:, i], atol=1e-5)


def test_decode_caches_keep_positions_where_their_steps_read_them():
    """Full attention's cache (and cross-attention's keys and values) holds positions last,
    `[B, heads, d, L]`, which a step streams fastest; the gathering patterns keep
    `[B, heads, L, d]`."""
    x = np.zeros((3, 2, 3, 4, 8), "float32")
    full = GridAttention(2, causal=True)
    full(x)
    assert [tuple(c.shape) for c in full.empty_cache(3)] == [(3, 2, 4, 24)] * 2
    assert [tuple(c.shape) for c in full.project_key_value(np.zeros((3, 5, 8), "float32"))] == [
        (3, 2, 4, 5)] * 2
    axial = GridAttention(2, attention_axes=(1, 2, 3), causal=True)
    axial(x)
    assert [tuple(c.shape) for c in axial.empty_cache(3)] == [(3, 2, 24, 4)] * 5


def test_segment_decode_matches_full_causal_pass(rng):
    """Decoding segment by segment (each step reads the keys before its segment as one
    tensor, and its own rows) gives the outputs of one full causal pass, and the cache
    closed after each segment is the cache of a plain decode."""
    x = rng.normal(size=(2, 2, 3, 3, 8)).astype("float32")
    layer = GridAttention(2, causal=True)
    full = layer(x).numpy().reshape(2, -1, 8)
    flat = x.reshape(2, -1, 8)
    plain = layer.empty_cache(2)
    cache = layer.empty_cache(2)
    for begin, end in [(0, 5), (5, 12), (12, 18)]:
        state = layer.open_segment(cache, begin, end)
        assert len(state) == (2 if begin == 0 else 4)
        for i in range(begin, end):
            y, state = layer.decode_self(flat[:, i], state, np.int32(i))
            np.testing.assert_allclose(y.numpy(), full[:, i], atol=1e-5)
            _, plain = layer.decode_self(flat[:, i], plain, np.int32(i))
        cache = layer.close_segment(cache, state, begin, end)
        assert [c.shape for c in cache] == [c.shape for c in plain]
        np.testing.assert_allclose(cache[0].numpy(), plain[0].numpy(), atol=1e-6)
        np.testing.assert_allclose(cache[1].numpy(), plain[1].numpy(), atol=1e-6)
    assert layer.open_segment(cache, 0, 18) is cache  # one segment: the cache itself
    with pytest.raises(ValueError, match="0 <= begin < end <= 18"):
        layer.open_segment(cache, 12, 19)


@pytest.mark.parametrize("batch", [1, 2])
def test_cached_cross_decode_matches_full_pass(rng, batch):
    x = rng.normal(size=(batch, 1, 2, 2, 8)).astype("float32")
    cond = rng.normal(size=(batch, 1, 3, 3, 4)).astype("float32")
    layer = GridAttention(2)
    full = layer(x, cond).numpy().reshape(batch, -1, 8)
    k, v = layer.project_key_value(cond)
    for i in range(4):
        np.testing.assert_allclose(layer.decode_cross(x.reshape(batch, -1, 8)[:, i], k, v).numpy(),
                                   full[:, i], atol=1e-5)


def test_raster_coordinates_order():
    c = raster_coordinates((2, 2, 3))
    assert c.shape == (12, 3)
    assert c[0].tolist() == [0, 0, 0] and c[1].tolist() == [0, 0, 1] and c[3].tolist() == [0, 1, 0]
    assert c[6].tolist() == [1, 0, 0]


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="attention_axes"):
        GridAttention(2, attention_axes=(0,))
    with pytest.raises(ValueError, match="all three axes"):
        GridAttention(2, attention_axes=(2, 3), causal=True)
    with pytest.raises(ValueError, match="causal=True"):
        GridAttention(2, sparse_block_size=32)
    with pytest.raises(ValueError, match="num_heads must be >= 1"):
        GridAttention(0)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        GridAttention(3)(np.zeros((1, 1, 2, 2, 8), "float32"))


@pytest.mark.parametrize("islands", [True, False])
def test_axial_block_is_the_sum_of_its_three_attentions(rng, islands):
    """`AxialBlock` projects for its three attentions together; values and gradients are the
    sum of the three `GridAttention` calls, with and without XLA islands."""
    import contextlib

    import tensorflow as tf

    from keras_videogpt.layers.xla_island import no_islands
    from keras_videogpt.vqvae.blocks import AxialBlock

    block = AxialBlock(2)
    x = tf.constant(rng.normal(size=(2, 3, 4, 5, 8)), tf.float32)
    block(x)
    for attn in block._attentions:  # non-zero biases, so their sum is checked too
        attn.output_bias.assign(rng.normal(size=attn.output_bias.shape))

    def both(x):
        ours = block(x)
        summed = block.attn_w(x) + block.attn_h(x) + block.attn_t(x)
        return ours, summed

    with no_islands() if not islands else contextlib.nullcontext():
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(x)
            ours, summed = tf.function(both)(x)
            loss_ours, loss_summed = (tf.reduce_sum(tf.sin(y)) for y in (ours, summed))
    np.testing.assert_allclose(ours.numpy(), summed.numpy(), atol=1e-5)
    grads = [tape.gradient(loss, [x] + block.trainable_variables)
             for loss in (loss_ours, loss_summed)]
    assert len(grads[0]) == 1 + 3 * 5
    for a, b in zip(*grads):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-4)
