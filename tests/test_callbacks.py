"""VideoSummary: reconstructions and samples written to TensorBoard, read back from the events."""

import glob

import numpy as np
import pytest
import tensorflow as tf

from conftest import TINY_VQVAE
from keras_videogpt import VQVAE, VideoGPT
from keras_videogpt.callbacks import VideoSummary
from test_prior import randomize_output


def images_in(log_dir):
    """`{tag: [(step, image)]}` from the event files under `log_dir`."""
    found = {}
    for path in glob.glob(f"{log_dir}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                encoded = tf.make_ndarray(value.tensor)[2]  # [width, height, png]
                found.setdefault(value.tag, []).append(
                    (event.step, tf.io.decode_png(encoded).numpy()))
    return found


@pytest.fixture(scope="module")
def vqvae():
    return VQVAE(**TINY_VQVAE)


def test_vqvae_reconstructions_are_written_every_n_epochs(vqvae, tmp_path):
    import keras

    clips = np.random.default_rng(0).integers(0, 256, (2,) + vqvae.video_shape, dtype="uint8")
    model = VQVAE(**TINY_VQVAE)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    summary = VideoSummary(str(tmp_path), clips, every=2)
    model.fit(np.random.uniform(-.5, .5, (4,) + model.video_shape).astype("float32"),
              batch_size=2, epochs=4, verbose=0, callbacks=[summary])
    found = images_in(str(tmp_path))
    steps = [step for step, _ in found["reconstructions"]]
    assert steps == [2, 4]  # every second epoch
    image = found["reconstructions"][-1][1]
    t, h, w, c = vqvae.video_shape
    # 2 originals above their 2 reconstructions, frames left to right, 1-pixel borders.
    assert image.shape == (1 + 4 * (h + 1), 1 + t * (w + 1), c)
    np.testing.assert_array_equal(image[1:1 + h, 1:1 + w], clips[0, 0])
    expected = np.round((np.clip(model(clips).numpy(), -.5, .5) + .5) * 255)[0, 0]
    assert np.abs(image[1 + 2 * (h + 1):1 + 2 * (h + 1) + h, 1:1 + w].astype(int)
                  - expected).max() <= 1


def test_prior_samples_are_written_and_frames_are_continued(vqvae, tmp_path):
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1, n_cond_frames=1,
                                resnet_blocks=(1, 1, 1, 1), resnet_width=4, resnet_dim=12)
    randomize_output(prior)
    clips = np.random.default_rng(1).uniform(-.5, .5, (3,) + vqvae.video_shape)
    summary = VideoSummary(str(tmp_path), clips.astype("float32"), vqvae, num_samples=3)
    summary.set_model(prior)
    summary.on_epoch_end(0)
    (step, image), = images_in(str(tmp_path))["samples"]
    t, h, w, c = vqvae.video_shape
    assert step == 1 and image.shape == (1 + 3 * (h + 1), 1 + t * (w + 1), c)
    with pytest.raises(ValueError, match="needs the `vqvae`"):
        bad = VideoSummary(str(tmp_path), clips)
        bad.set_model(prior)
        bad.on_epoch_end(0)
    with pytest.raises(ValueError, match="every must be >= 1"):
        VideoSummary(str(tmp_path), clips, every=0)
