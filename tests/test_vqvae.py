import numpy as np
import pytest
import keras
import tensorflow as tf

from conftest import TINY_VQVAE, count_train_step_traces
from keras_videogpt import VQVAE, presets


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(1)
    # Smooth moving blobs: learnable in a few steps, unlike white noise.
    t, s = np.arange(4)[:, None, None], np.arange(16)
    yy, xx = np.meshgrid(s, s, indexing="ij")
    out = []
    for _ in range(8):
        cx, cy, vx = rng.uniform(3, 12), rng.uniform(3, 12), rng.uniform(-2, 2)
        frames = np.exp(-((xx - cx - vx * t) ** 2 + (yy - cy) ** 2) / 8.0) - 0.5
        out.append(np.repeat(frames[..., None], 3, -1))
    return np.stack(out).astype("float32")


def test_shapes_and_dtypes(clips):
    model = VQVAE(**TINY_VQVAE)
    assert model.latent_shape == (2, 8, 8)
    codes = model.encode(clips[:2])
    assert codes.shape == (2, 2, 8, 8) and codes.dtype == "int32"
    video = model.decode(codes)
    assert video.shape == (2, 4, 16, 16, 3) and video.dtype == "float32"
    assert model(clips[:2]).shape == (2, 4, 16, 16, 3)


def test_eager_encode_and_decode_trace_once_for_any_batch_size(clips):
    # Each model's graphs leave the batch size open: new batch sizes reuse them, and a
    # batch's first rows equal a smaller batch's.
    for model in (VQVAE(**TINY_VQVAE), VQVAE(**TINY_VQVAE)):
        codes = {b: model.encode(clips[:b]) for b in (1, 3, 2)}
        videos = {b: model.decode(codes[b]) for b in (1, 3, 2)}
        graphs = model._inference_graphs
        assert len(graphs) == 2
        assert [g.experimental_get_tracing_count() for g in graphs.values()] == [1, 1]
        np.testing.assert_array_equal(codes[3][:1], codes[1])
        np.testing.assert_allclose(videos[3][:2], videos[2], atol=1e-5)


def test_uint8_video_is_converted(clips):
    model = VQVAE(**TINY_VQVAE)
    as_uint8 = np.round((clips[:2] + 0.5) * 255).astype("uint8")
    np.testing.assert_allclose(model(as_uint8).numpy(),
                               model(as_uint8 / 255.0 - 0.5).numpy(), atol=1e-5)


def test_fit_lowers_the_loss_and_logs_metrics(clips):
    keras.utils.set_random_seed(0)
    model = VQVAE(**TINY_VQVAE)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    traces = count_train_step_traces(model)
    hist = model.fit(clips, batch_size=4, epochs=12, verbose=0).history
    assert len(traces) == 1  # the optimizer is built first, so no retrace to create its slots
    assert set(hist) >= {"loss", "recon_loss", "commitment_loss", "perplexity", "codes_used"}
    assert hist["recon_loss"][-1] < 0.5 * hist["recon_loss"][0]
    assert 1.0 <= hist["perplexity"][-1] <= TINY_VQVAE["n_codes"]
    assert 0 < hist["codes_used"][-1] <= 1
    assert model.quantizer.initialized.numpy() == 1.0


def test_fit_accepts_dict_and_tuple_batches(clips):
    import tensorflow as tf

    model = VQVAE(**TINY_VQVAE)
    model.compile(optimizer="adam")
    labels = np.zeros((8,), "int32")
    for ds in (tf.data.Dataset.from_tensor_slices({"video": clips, "label": labels}),
               tf.data.Dataset.from_tensor_slices((clips, labels))):
        hist = model.fit(ds.batch(4, drop_remainder=True), epochs=1, verbose=0).history
        assert np.isfinite(hist["loss"][0])


def test_keras_file_round_trip(tmp_path, clips):
    model = VQVAE(**TINY_VQVAE)
    model.compile(optimizer="adam")
    model.fit(clips, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "vqvae.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, VQVAE) and loaded.latent_shape == model.latent_shape
    np.testing.assert_array_equal(loaded.encode(clips).numpy(), model.encode(clips).numpy())
    np.testing.assert_allclose(loaded(clips).numpy(), model(clips).numpy(), atol=1e-6)
    np.testing.assert_array_equal(loaded.quantizer.embeddings.numpy(),
                                  model.quantizer.embeddings.numpy())


@pytest.mark.parametrize("video,message", [
    (np.zeros((4, 16, 16, 3), "float32"), "rank 5"),
    (np.zeros((1, 4, 16, 16, 1), "float32"), "3 channels"),
    (np.zeros((1, 3, 4, 16, 16), "float32"), "channels"),
    (np.zeros((1, 8, 16, 16, 3), "float32"), "4 frames of 16x16"),
])
def test_bad_video_shapes_are_named(video, message):
    with pytest.raises(ValueError, match=message):
        VQVAE(**TINY_VQVAE).encode(video)


def test_integer_video_other_than_uint8_is_refused():
    with pytest.raises(TypeError, match="int32"):
        VQVAE(**TINY_VQVAE).encode(np.zeros((1, 4, 16, 16, 3), "int32"))


def test_indivisible_clip_is_refused():
    with pytest.raises(ValueError, match="frames \\(6\\) is not divisible"):
        VQVAE(**dict(TINY_VQVAE, sequence_length=6, downsample=(4, 2, 2)))
    with pytest.raises(ValueError, match="width \\(18\\)"):
        VQVAE(**dict(TINY_VQVAE, resolution=(16, 18), downsample=(2, 2, 4)))
    with pytest.raises(ValueError, match="power of 2"):
        VQVAE(**dict(TINY_VQVAE, downsample=(3, 2, 2), sequence_length=6))


def test_bad_codes_are_refused():
    model = VQVAE(**TINY_VQVAE)
    with pytest.raises(ValueError, match="\\[0, 16\\)"):
        model.decode(np.full((1, 2, 8, 8), 16, "int32"))
    with pytest.raises(ValueError, match="shape"):
        model.decode(np.zeros((1, 2, 8), "int32"))
    with pytest.raises(TypeError, match="integers"):
        model.decode(np.zeros((1, 2, 8, 8), "float32"))


def test_presets():
    assert {"tiny", "bair_stride4x2x2", "ucf101_stride4x4x4"} <= set(presets.vqvae_presets())
    bair = presets.vqvae_config("bair_stride4x2x2")
    assert (bair["n_hiddens"], bair["n_res_layers"], bair["embedding_dim"], bair["downsample"]) == (
        240, 4, 256, (4, 2, 2))
    model = VQVAE.from_preset("tiny", n_codes=32)
    assert model.n_codes == 32 and model.latent_shape == (4, 16, 16)
    with pytest.raises(ValueError, match="Unknown VQ-VAE preset 'bair'.*bair_stride4x2x2"):
        VQVAE.from_preset("bair")


def tiny_train_step(clips):
    """A seeded tiny VQ-VAE, built, and a traced step giving its recon and loss gradients."""
    keras.utils.set_random_seed(0)
    vqvae = VQVAE(**TINY_VQVAE)
    vqvae(clips[:1])

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            out = vqvae.forward(x, training=True)
            loss = vqvae.compute_losses(out)[0]
        return out["recon"], tape.gradient(loss, vqvae.trainable_variables)

    return vqvae, step


def test_xla_islands_compute_what_plain_tf_computes(clips):
    """The axial attention runs as an XLA cluster inside uncompiled graphs
    (`layers.xla_island`); forward pass, gradients and BatchNorm's moving averages match the
    plain TF graph, and `no_islands()` really traces without XLA."""
    from keras_videogpt.layers.xla_island import no_islands

    def run(islands):
        vqvae, step = tiny_train_step(clips)
        if islands:
            recon, grads = step(clips)
        else:
            with no_islands():
                recon, grads = step(clips)
        graph = step.get_concrete_function(clips).graph.as_graph_def()
        compiled = any(f.attr["_XlaMustCompile"].b for f in graph.library.function
                       if "_XlaMustCompile" in f.attr)
        moving = [v.numpy() for v in vqvae.weights if "moving" in v.path]
        return recon.numpy(), [g.numpy() for g in grads], moving, compiled

    a, b = run(True), run(False)
    assert a[3] and not b[3]
    np.testing.assert_allclose(a[0], b[0], atol=1e-5, rtol=1e-4)
    for ga, gb in zip(a[1], b[1]):
        # Some gradients are zero in exact arithmetic (biases before BatchNorm): rounding noise.
        assert np.linalg.norm(ga - gb) <= 1e-3 * np.linalg.norm(gb) + 1e-4
    for ma, mb in zip(a[2], b[2]):
        np.testing.assert_allclose(ma, mb, atol=1e-6)


def test_winograd_convs_train_as_the_direct_convs_do(clips):
    """Forced on (`set_winograd(True)`), the stride-1 convs run as Winograd XLA islands; the
    forward pass and the gradients of a train step match TF's direct convs'."""
    from keras_videogpt.layers import winograd

    def run(enabled):
        winograd.set_winograd(enabled)
        try:
            _, step = tiny_train_step(clips)
            recon, grads = step(clips)
            return recon.numpy(), [g.numpy() for g in grads]
        finally:
            winograd.set_winograd(None)

    (ra, ga), (rb, gb) = run(True), run(False)
    np.testing.assert_allclose(ra, rb, atol=1e-5, rtol=1e-4)
    for a, b in zip(ga, gb):
        assert np.linalg.norm(a - b) <= 1e-3 * np.linalg.norm(b) + 1e-4


def test_replicate_padding_encodes_a_still_clip_alike_at_every_step(clips, tmp_path):
    still = np.repeat(clips[:2, :1], 4, axis=1)
    z = {}
    for padding in ("zeros", "replicate"):
        keras.utils.set_random_seed(0)
        model = VQVAE(**TINY_VQVAE, temporal_padding=padding)
        z[padding] = model.pre_vq_conv(model.encoder(still, training=False)).numpy()
    # Zeros make the first and last steps differ from each other; replicate keeps them equal.
    assert not np.allclose(z["zeros"][:, 0], z["zeros"][:, 1], atol=1e-4)
    np.testing.assert_allclose(z["replicate"][:, 0], z["replicate"][:, 1], atol=1e-4)
    model.save(tmp_path / "replicate.keras")
    loaded = keras.models.load_model(tmp_path / "replicate.keras")
    assert loaded.temporal_padding == "replicate"
    np.testing.assert_allclose(loaded(clips[:2]).numpy(), model(clips[:2]).numpy(), atol=1e-6)


def test_unknown_temporal_padding_is_named_by_the_vqvae():
    with pytest.raises(ValueError, match="Unknown temporal_padding 'edge'"):
        VQVAE(**TINY_VQVAE, temporal_padding="edge")
