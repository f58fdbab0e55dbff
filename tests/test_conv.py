import numpy as np
import pytest

from keras_videogpt.layers.conv import SamePadConv3D, SamePadConv3DTranspose, reference_padding


def naive_conv3d(x, w, b, strides):
    """Direct loops: x [T,H,W,C] already padded, w [kT,kH,kW,C,O]."""
    kt, kh, kw, _, o = w.shape
    st, sh, sw = strides
    ot = (x.shape[0] - kt) // st + 1
    oh = (x.shape[1] - kh) // sh + 1
    ow = (x.shape[2] - kw) // sw + 1
    y = np.zeros((ot, oh, ow, o))
    for t in range(ot):
        for i in range(oh):
            for j in range(ow):
                patch = x[t * st:t * st + kt, i * sh:i * sh + kh, j * sw:j * sw + kw]
                y[t, i, j] = np.tensordot(patch, w, axes=4) + b
    return y


def naive_conv_transpose3d(x, w, b, strides, crop):
    """Scatter form of a transposed conv, then crop `crop` per side. w [kT,kH,kW,O,C]."""
    kt, kh, kw, o, _ = w.shape
    st, sh, sw = strides
    t, h, ww, _ = x.shape
    full = np.zeros(((t - 1) * st + kt, (h - 1) * sh + kh, (ww - 1) * sw + kw, o))
    for a in range(t):
        for i in range(h):
            for j in range(ww):
                full[a * st:a * st + kt, i * sh:i * sh + kh, j * sw:j * sw + kw] += (
                    np.einsum("xyzoc,c->xyzo", w, x[a, i, j]))
    c = crop
    return full[c[0]:full.shape[0] - c[0], c[1]:full.shape[1] - c[1], c[2]:full.shape[2] - c[2]] + b


def test_reference_padding_puts_extra_pixel_in_front():
    assert reference_padding((4, 4, 3), (2, 1, 1)) == [(1, 1), (2, 1), (1, 1)]
    assert reference_padding((1, 1, 1), (1, 1, 1)) == [(0, 0)] * 3


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("kernel,strides", [(4, (2, 2, 2)), (3, (1, 1, 1)), (4, (1, 2, 2))])
def test_same_pad_conv_matches_direct_loops(rng, kernel, strides, training):
    # Strided: TF's strided conv at inference, a stride-1 conv on blocks in training.
    x = rng.normal(size=(1, 4, 6, 6, 2)).astype("float32")
    conv = SamePadConv3D(3, kernel, strides=strides)
    y = conv(x, training=training).numpy()[0]
    pads = reference_padding(conv.kernel_size, strides)
    xp = np.pad(x[0], pads + [(0, 0)])
    expected = naive_conv3d(xp, conv.kernel.numpy(), conv.bias.numpy(), strides)
    assert y.shape == (4 // strides[0], 6 // strides[1], 6 // strides[2], 3)
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("strides", [(2, 2, 2), (1, 2, 2), (1, 1, 1)])
def test_same_pad_conv_transpose_matches_pytorch_semantics(rng, strides):
    x = rng.normal(size=(1, 2, 3, 3, 2)).astype("float32")
    up = SamePadConv3DTranspose(3, 4, strides=strides)
    y = up(x).numpy()[0]
    pads = reference_padding((4, 4, 4), strides)
    xp = np.pad(x[0], pads + [(0, 0)])
    expected = naive_conv_transpose3d(xp, up.kernel.numpy(), up.bias.numpy(), strides, (3, 3, 3))
    assert y.shape == (2 * strides[0], 3 * strides[1], 3 * strides[2], 3)
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_conv_rejects_bad_kernel_spec():
    with pytest.raises(ValueError, match="kernel_size"):
        SamePadConv3D(3, (3, 3))


def test_conv_config_round_trip():
    conv = SamePadConv3D(5, 4, strides=(1, 2, 2), use_bias=False)
    clone = SamePadConv3D.from_config(conv.get_config())
    assert (clone.filters, clone.kernel_size, clone.strides, clone.use_bias) == (
        5, (4, 4, 4), (1, 2, 2), False)


def _edge_pad_time(x, pads):
    """numpy: edge padding along T (axis 0), zeros along H and W."""
    x = np.pad(x, [pads[0]] + [(0, 0)] * 3, mode="edge")
    return np.pad(x, [(0, 0)] + pads[1:] + [(0, 0)])


@pytest.mark.parametrize("kernel,strides", [(4, (2, 2, 2)), (3, (1, 1, 1)), (4, (1, 2, 2))])
def test_replicate_padding_repeats_edge_frames(rng, kernel, strides):
    x = rng.normal(size=(1, 4, 6, 6, 2)).astype("float32")
    conv = SamePadConv3D(3, kernel, strides=strides, temporal_padding="replicate")
    y = conv(x).numpy()[0]
    pads = reference_padding(conv.kernel_size, strides)
    expected = naive_conv3d(_edge_pad_time(x[0], pads), conv.kernel.numpy(), conv.bias.numpy(),
                            strides)
    np.testing.assert_allclose(y, expected, atol=1e-5)


@pytest.mark.parametrize("strides", [(2, 2, 2), (1, 2, 2)])
def test_replicate_padding_in_the_transposed_conv(rng, strides):
    x = rng.normal(size=(1, 2, 3, 3, 2)).astype("float32")
    up = SamePadConv3DTranspose(3, 4, strides=strides, temporal_padding="replicate")
    y = up(x).numpy()[0]
    pads = reference_padding((4, 4, 4), strides)
    expected = naive_conv_transpose3d(_edge_pad_time(x[0], pads), up.kernel.numpy(),
                                      up.bias.numpy(), strides, (3, 3, 3))
    np.testing.assert_allclose(y, expected, atol=1e-5)


def test_replicate_padding_keeps_a_still_clip_still(rng):
    # Every frame equal: with replicate padding each output step sees the same input.
    frame = rng.normal(size=(1, 1, 6, 6, 2)).astype("float32")
    x = np.repeat(frame, 8, axis=1)
    for padding, still in (("replicate", True), ("zeros", False)):
        y = SamePadConv3D(3, 4, strides=(2, 1, 1), temporal_padding=padding)(x).numpy()
        assert np.allclose(y, y[:, :1], atol=1e-5) == still


def test_unknown_temporal_padding_is_named():
    with pytest.raises(ValueError, match="Unknown temporal_padding 'reflect'"):
        SamePadConv3D(3, 3, temporal_padding="reflect")


def test_temporal_padding_survives_config():
    conv = SamePadConv3DTranspose(5, 4, strides=2, temporal_padding="replicate")
    assert SamePadConv3DTranspose.from_config(conv.get_config()).temporal_padding == "replicate"


# (2, 4, 4) gives 4 outputs in H, which F(4, 4) takes, and 6 in W, which F(2, 4) takes.
@pytest.mark.parametrize("kernel", [(3, 3, 3), (2, 4, 4), (1, 3, 3), (3, 1, 1), (2, 2, 2)])
def test_winograd_conv_matches_direct_loops(rng, kernel):
    import tensorflow as tf

    from keras_videogpt.layers.winograd import winograd_conv3d

    x = rng.normal(size=(2, 5 + kernel[0], 3 + kernel[1], 5 + kernel[2], 3))
    w = rng.normal(size=kernel + (3, 4)) / np.sqrt(np.prod(kernel) * 3)
    y = winograd_conv3d(tf.constant(x, tf.float32), tf.constant(w, tf.float32)).numpy()
    for b in range(2):
        np.testing.assert_allclose(y[b], naive_conv3d(x[b], w, 0.0, (1, 1, 1)), atol=2e-5)


def test_winograd_takes_four_outputs_a_tile_on_kernel_4_axes_where_they_fit():
    from keras_videogpt.layers.winograd import outputs_per_tile

    assert [outputs_per_tile(k, n) for k, n in ((4, 32), (4, 6), (3, 32), (2, 4), (1, 5))] == [
        4, 2, 2, 2, 1]


@pytest.mark.parametrize("kernel,size", [((3, 3, 3), (6, 6, 8)), ((2, 4, 4), (5, 7, 11))])
def test_winograd_conv_gradients_match_the_direct_convs(rng, kernel, size):
    import tensorflow as tf

    from keras_videogpt.layers.winograd import winograd_conv3d

    # (2, 4, 4) on (5, 7, 11): F(2, 2) in T, F(4, 4) in H (4 outputs) and W (8).
    x = rng.normal(size=(2,) + size + (5,))
    w = rng.normal(size=kernel + (5, 4)) * 0.2
    grads = []
    for conv, dtype in ((winograd_conv3d, tf.float32),
                        (lambda x, w: tf.nn.conv3d(x, w, [1] * 5, "VALID"), tf.float64)):
        xt, wt = tf.constant(x, dtype), tf.constant(w, dtype)
        with tf.GradientTape() as tape:
            tape.watch([xt, wt])
            loss = tf.reduce_sum(tf.sin(conv(xt, wt)))
        grads.append([g.numpy().astype(np.float64) for g in tape.gradient(loss, [xt, wt])])
    # Against float64: the direct float32 conv is ~5e-7 off, F(2, r) ~3e-6, F(4, 4) ~5e-6.
    for a, b in zip(*grads):
        assert np.abs(a - b).max() < 2e-5 * np.abs(b).max()


def test_island_winograd_gives_winograd_conv3d_values_and_gradients(rng):
    """`IslandWinograd` (XLA transforms, TF products) computes what `winograd_conv3d` does."""
    import tensorflow as tf

    from keras_videogpt.layers.winograd import IslandWinograd, winograd_conv3d

    x = tf.constant(rng.normal(size=(2, 6, 6, 8, 5)), tf.float32)
    w = tf.constant(rng.normal(size=(3, 3, 3, 5, 4)) * 0.2, tf.float32)
    results = []
    for conv in (IslandWinograd(), IslandWinograd(products="xla"), winograd_conv3d):
        with tf.GradientTape() as tape:
            tape.watch([x, w])
            y = tf.function(conv)(x, w)
            loss = tf.reduce_sum(tf.sin(y))
        results.append([y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x, w])])
    assert results[0][0].shape == (2, 4, 4, 6, 4)
    for result in results[:2]:  # the same values up to float32 rounding
        for a, b in zip(result, results[-1]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="'tf' or 'xla'"):
        IslandWinograd(products="numpy")


def test_islands_called_eagerly_at_many_shapes_do_not_warn_of_retracing(caplog):
    """Islands compile once per shape by design: TF's retracing warning is for mistakes."""
    import tensorflow as tf

    from keras_videogpt.layers.winograd import IslandWinograd

    caplog.set_level("WARNING")
    kernel = tf.ones((3, 3, 3, 2, 2))
    for size in range(4, 20, 2):
        for products in ("tf", "xla"):
            y = IslandWinograd(products)(tf.ones((1, 4, size, 4, 2)), kernel)
            assert y.shape == (1, 2, size - 2, 2, 2)
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


@pytest.mark.parametrize("kernel,strides", [(3, (1, 1, 1)), (4, (2, 2, 2)), (4, (2, 1, 1))])
def test_every_form_of_a_conv_gives_the_same_values_and_gradients(rng, kernel, strides):
    """Each form `conv_tuner` may time (direct, Winograd with TF's or XLA's products, one
    matrix product by columns or by overlap, on blocks) computes the same conv, forward and
    backward."""
    import tensorflow as tf

    conv = SamePadConv3D(6, kernel, strides=strides)
    x = tf.constant(rng.normal(size=(2, 4, 8, 8, 5)).astype("float32"))
    conv.build(x.shape)
    padded = conv._pad(x)
    forms, _ = conv._forms(padded.shape, True)
    expected_forms = {"direct", "winograd", "winograd_xla", "gemm"} if kernel == 3 else {
        "strided", "blocks", "blocks_winograd", "blocks_winograd_xla", "blocks_gemm"}
    assert set(forms) == expected_forms
    by_form = {}
    for name, form in forms.items():
        with tf.GradientTape() as tape:
            tape.watch(padded)
            y = tf.function(form)(padded, conv.kernel)
            loss = tf.reduce_sum(y * tf.cos(y))
        by_form[name] = [y.numpy()] + [g.numpy() for g in
                                       tape.gradient(loss, [padded, conv.kernel])]
    base = by_form["direct" if kernel == 3 else "strided"]
    assert base[0].shape == (2, 4 // strides[0], 8 // strides[1], 8 // strides[2], 6)
    for name, values in by_form.items():
        for a, b in zip(values, base):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max(),
                                       err_msg=name)


def test_winograd_needs_even_outputs_and_the_layer_falls_back(rng):
    import tensorflow as tf

    from keras_videogpt.layers import winograd

    with pytest.raises(ValueError, match="even output size"):
        winograd.winograd_conv3d(tf.zeros((1, 5, 6, 6, 2)), tf.zeros((3, 3, 3, 2, 2)))
    assert not winograd.applies((1, 1, 1), (4, 4, 4))
    x = rng.normal(size=(1, 3, 5, 6, 4)).astype("float32")  # T and H odd: the direct conv
    conv = SamePadConv3D(3, 3)
    plain = conv(x).numpy()
    winograd.set_winograd(True)
    try:
        np.testing.assert_allclose(conv(x).numpy(), plain, atol=1e-6)
        even = rng.normal(size=(1, 4, 6, 6, 4)).astype("float32")
        forced = conv(even).numpy()
    finally:
        winograd.set_winograd(None)
    np.testing.assert_allclose(forced, conv(even).numpy(), atol=1e-5)
    assert not np.allclose(forced, 0)


def test_strided_conv_runs_on_blocks_in_training_and_where_winograd_takes_them():
    from keras_videogpt.layers import winograd

    tiny = SamePadConv3D(64, 4, strides=2)
    tiny.build((None, 8, 32, 32, 64))
    assert tiny._by_blocks((None, 10, 34, 34, 64), True)
    assert not tiny._by_blocks((None, 10, 34, 34, 64), False)
    # bair's conv_1: 480 channels on blocks, kernel (2, 4, 4), which Winograd takes.
    bair = SamePadConv3D(240, 4, strides=(2, 1, 1))
    bair.build((None, 8, 32, 32, 240))
    assert bair._by_blocks((None, 10, 35, 35, 240), False)
    winograd.set_winograd(False)
    try:
        assert not bair._by_blocks((None, 10, 35, 35, 240), False)
    finally:
        winograd.set_winograd(None)
    assert not SamePadConv3D(4, 3)._by_blocks((None, 6, 6, 6, 2), True)  # stride 1


def test_a_bair_like_strided_conv_gives_the_same_values_as_winograd_f4(rng):
    """bair's `conv_1` in small: stride (2, 1, 1) on blocks is kernel (2, 4, 4), whose H and W
    axes take F(4, 4) when Winograd is forced; the values stay those of TF's strided conv."""
    import tensorflow as tf

    from keras_videogpt.layers import winograd

    conv = SamePadConv3D(16, 4, strides=(2, 1, 1))
    x = rng.uniform(-1, 1, size=(2, 8, 16, 16, 8)).astype("float32")
    winograd.set_winograd(False)
    try:
        direct = conv(x).numpy()
        assert not conv._by_blocks((None, 10, 19, 19, 8), False)
        winograd.set_winograd(True)
        assert conv._by_blocks((None, 10, 19, 19, 8), False)
        forced = conv(tf.constant(x)).numpy()
    finally:
        winograd.set_winograd(None)
    assert direct.shape == (2, 4, 16, 16, 16)
    np.testing.assert_allclose(forced, direct, atol=2e-5 * np.abs(direct).max())


def test_winograd_policy_takes_wide_convs_on_cpu_only_and_can_be_switched_off():
    from keras_videogpt.layers import winograd

    assert winograd.wanted((3, 3, 3, 240, 120), (4, 32, 32))      # a bair residual conv
    assert not winograd.wanted((3, 3, 3, 64, 32), (4, 16, 16))    # narrower: slower this way
    assert not winograd.wanted((3, 3, 3, 240, 240), (4, 31, 32))  # an odd output
    winograd.set_winograd(False)
    try:
        assert not winograd.wanted((3, 3, 3, 240, 120), (4, 32, 32))
    finally:
        winograd.set_winograd(None)
    with pytest.raises(ValueError, match="None, True or False"):
        winograd.set_winograd("yes")


FORMS = ("transpose", "shared", "phases", "phases_winograd", "phases_winograd_tf", "shared_gemm")


def force_form(monkeypatch, form):
    """Makes every `SamePadConv3DTranspose` run in `form`, whatever `phase_form` would pick."""
    from keras_videogpt.layers import conv as conv_module

    monkeypatch.setattr(conv_module, "phase_form", lambda *args, **kwargs: form)


@pytest.mark.parametrize("strides", [(2, 2, 2), (1, 2, 2), (2, 1, 1)])
@pytest.mark.parametrize("padding", ["zeros", "replicate"])
@pytest.mark.parametrize("form", FORMS + ("picked",))
def test_transposed_conv_matches_direct_loops_in_every_form(rng, monkeypatch, strides, padding,
                                                             form):
    import tensorflow as tf

    if form == "transpose" and padding == "replicate":
        pytest.skip("TF's SAME padding is zeros; the policy never picks it for replicate")
    if form != "picked":
        force_form(monkeypatch, form)
    x = rng.normal(size=(2, 2, 4, 4, 3)).astype("float32")
    up = SamePadConv3DTranspose(5, 4, strides=strides, temporal_padding=padding)
    up.build(x.shape)
    pads = reference_padding((4, 4, 4), strides)
    w, b = up.kernel.numpy(), up.bias.numpy()
    for training in (False, True):
        y = tf.function(lambda x: up(x, training=training))(tf.constant(x)).numpy()
        for i in range(2):
            xp = _edge_pad_time(x[i], pads) if padding == "replicate" else np.pad(
                x[i], pads + [(0, 0)])
            expected = naive_conv_transpose3d(xp, w, b, strides, (3, 3, 3))
            np.testing.assert_allclose(y[i], expected, atol=1e-4)


def test_transposed_conv_gradients_are_the_same_in_every_form(rng, monkeypatch):
    import tensorflow as tf

    x = tf.constant(rng.normal(size=(1, 2, 4, 4, 6)).astype("float32"))
    up = SamePadConv3DTranspose(4, 4, strides=2)
    up.build(x.shape)

    def grads(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = up(x, training=True)
            loss = tf.reduce_sum(y * tf.cos(y))
        return tape.gradient(loss, [x, up.kernel, up.bias])

    by_form = {}
    for form in FORMS:
        force_form(monkeypatch, form)
        by_form[form] = [g.numpy() for g in tf.function(grads)(x)]
    for form in FORMS[1:]:
        for a, b in zip(by_form[form], by_form["transpose"]):
            np.testing.assert_allclose(a, b, atol=1e-4)


def test_same_padding_agrees_with_the_reference_only_where_checked():
    from keras_videogpt.layers.conv import same_offset_matches

    # The VQ-VAE's transposed convs: kernel 4, strides 1 and 2 per axis.
    assert same_offset_matches((4, 4, 4), (2, 2, 2))
    assert same_offset_matches((4, 4, 4), (2, 1, 1))
    assert same_offset_matches((3, 3, 3), (1, 2, 2))
    # Kernel equal to the stride: the reference pads nothing and crops k - 1.
    assert not same_offset_matches((4, 4, 4), (4, 4, 4))
    assert not same_offset_matches((2, 4, 4), (2, 2, 2))


def test_transposed_conv_form_policy(monkeypatch):
    from keras_videogpt.layers import conv as conv_module
    from keras_videogpt.layers import winograd
    from keras_videogpt.layers.conv import phase_form
    from keras_videogpt.layers.xla_island import no_islands

    # Inference: TF's own SAME transposed conv from 64 filters, where its padding is the
    # reference's; one conv over all phases below 64 filters.
    assert phase_form((4, 4, 4, 96, 96), (2, 2, 2), (4, 8, 8)) == "transpose"
    assert phase_form((4, 4, 4, 64, 64), (2, 2, 2), (4, 8, 8)) == "transpose"
    assert phase_form((4, 4, 4, 32, 64), (2, 2, 2), (4, 8, 8)) == "shared"
    assert phase_form((4, 4, 4, 3, 240), (2, 1, 1), (4, 8, 8)) == "shared"
    # Replicate padding: one TF conv per phase.
    assert phase_form((4, 4, 4, 64, 64), (2, 2, 2), (4, 8, 8), same_padding=False) == "phases"
    # Training: Winograd per phase needs 96 channels in and out (winograd.MIN_CHANNELS)
    # and even phase outputs, and the policy switched on.
    assert phase_form((4, 4, 4, 96, 96), (2, 2, 2), (4, 8, 8), True) == "phases_winograd"
    assert phase_form((4, 4, 4, 64, 64), (2, 2, 2), (4, 8, 8), True) == "transpose"
    assert phase_form((4, 4, 4, 96, 96), (2, 2, 2), (3, 8, 8), True) == "transpose"
    assert phase_form((4, 4, 4, 3, 64), (2, 2, 2), (8, 8, 8), True) == "shared"
    winograd.set_winograd(False)
    try:
        assert phase_form((4, 4, 4, 96, 96), (2, 2, 2), (4, 8, 8), True) == "transpose"
    finally:
        winograd.set_winograd(None)

    # The layer asks the policy with its own padding and the call's training flag.
    asked = []
    real = conv_module.phase_form
    monkeypatch.setattr(conv_module, "phase_form",
                        lambda *a: asked.append(a[3:]) or real(*a))
    x = np.zeros((1, 2, 2, 2, 8), "float32")
    for padding, training in (("zeros", False), ("replicate", True)):
        asked.clear()
        with no_islands():
            y = SamePadConv3DTranspose(64, 4, strides=2, temporal_padding=padding)(
                x, training=training)
        assert y.shape == (1, 4, 4, 4, 64)
        assert asked == [(training, padding == "zeros")]


@pytest.mark.parametrize("kernel_shape", [(2, 2, 2, 3, 16), (2, 2, 2, 16, 3), (3, 1, 2, 4, 4)])
def test_gemm_conv_is_the_valid_conv_by_columns_or_by_overlap(rng, kernel_shape):
    import tensorflow as tf

    from keras_videogpt.layers.gemm_conv import gemm_conv3d, gemm_side

    x = tf.constant(rng.normal(size=(2, 4, 6, 5, kernel_shape[3])).astype("float32"))
    kernel = tf.constant(rng.normal(size=kernel_shape).astype("float32"))
    expected = tf.nn.conv3d(x, kernel, [1] * 5, "VALID").numpy()
    np.testing.assert_allclose(gemm_conv3d(x, kernel).numpy(), expected, rtol=1e-5, atol=1e-4)
    assert gemm_side(kernel_shape) == ("columns" if kernel_shape[3] <= kernel_shape[4]
                                       else "overlap")
    assert gemm_side((3, 3, 3, 64, 32)) is None  # 27 x 32 floats a position: too wide
