"""Datasets of VQ-VAE codes for training the prior: encoded on the fly, or pre-encoded."""

import json
import os

import tensorflow as tf

from keras_videogpt import pixels
from keras_videogpt.data.sources import without_autotuning
from keras_videogpt.data.tfrecords import ShardWriter, _shard_files, read_json

CODES_METADATA = "codes.json"


def _split(batch):
    if isinstance(batch, dict):
        return batch["video"], batch.get("label")
    return batch, None


def encode_in_pipeline(video_ds, vqvae, n_cond_frames=0):
    """Maps a batched video dataset to prior batches, encoding with a frozen VQ-VAE.

    Each element becomes `{"codes", "cond_frames"?, "label"?}`: the VQ-VAE's
    codes, the first `n_cond_frames` frames when asked for, and the label when
    the input carries one.
    """

    encode = tf.function(vqvae.encode)

    def to_codes(batch):
        video, label = _split(batch)
        out = {"codes": encode(video)}
        if n_cond_frames:
            out["cond_frames"] = video[:, :n_cond_frames]
        if label is not None:
            out["label"] = label
        return out

    # Each element costs a VQ-VAE pass, far more than the source's work, so autotuning has
    # little to tune; and deleting an autotuned iterator at the end of `fit` stalled the
    # demo for 35 s (`sources.without_autotuning`).
    return without_autotuning(video_ds.map(to_codes).prefetch(tf.data.AUTOTUNE))


def write_codes(video_ds, vqvae, directory, num_batches, n_cond_frames=0, per_shard=1024,
                log=print):
    """Encodes `num_batches` batches once and writes codes (+ first frames, labels) to shards.

    Frames are stored as uint8. Writes `codes-NNNNN.tfrecord` and `codes.json`.
    """

    writer = ShardWriter(directory, prefix="codes", per_shard=per_shard)
    encode = tf.function(vqvae.encode)
    for batch in video_ds.take(num_batches):
        video, label = _split(batch)
        codes = encode(video).numpy().astype("int32")
        frames = None
        if n_cond_frames:
            frames = pixels.to_uint8(video[:, :n_cond_frames]).numpy()
        for i in range(codes.shape[0]):
            feature = {"codes": tf.train.Feature(bytes_list=tf.train.BytesList(
                value=[codes[i].tobytes()]))}
            if frames is not None:
                feature["cond_frames"] = tf.train.Feature(bytes_list=tf.train.BytesList(
                    value=[frames[i].tobytes()]))
            if label is not None:
                feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(
                    value=[int(label[i])]))
            writer.write(tf.train.Example(features=tf.train.Features(feature=feature)))
    writer.close()
    meta = {"latent_shape": list(vqvae.latent_shape), "n_codes": vqvae.n_codes,
            "vqvae_fingerprint": vqvae.fingerprint(), "n_cond_frames": n_cond_frames,
            "frame_shape": list(vqvae.resolution),
            "num_examples": writer.count, "with_labels": label is not None}
    with tf.io.gfile.GFile(os.path.join(directory, CODES_METADATA), "w") as f:
        json.dump(meta, f, indent=1)
    log(f"wrote codes of {writer.count} clips to {directory}")
    return meta


def read_codes_metadata(directory):
    """The metadata `write_codes` put beside the code shards."""
    return read_json(directory, CODES_METADATA, "write it with `python -m train.encode_codes`.")


def check_codes_match(directory, vqvae, log_warning=None):
    """Refuses codes in `directory` that another VQ-VAE made; returns their metadata.

    The latent grid and codebook size must match, and so must the VQ-VAE's
    `fingerprint()` that `write_codes` recorded. Codes written before the
    fingerprint existed are accepted with a warning.
    """

    meta = read_codes_metadata(directory)
    if tuple(meta["latent_shape"]) != tuple(vqvae.latent_shape):
        raise ValueError(f"The codes in '{directory}' have latent shape {meta['latent_shape']}, "
                         f"but the VQ-VAE gives {vqvae.latent_shape}.")
    if int(meta.get("n_codes", vqvae.n_codes)) != vqvae.n_codes:
        raise ValueError(f"The codes in '{directory}' come from a codebook of {meta['n_codes']} "
                         f"codes, but the VQ-VAE has {vqvae.n_codes}: they were made by another "
                         "VQ-VAE. Encode them again with this one (python -m train.encode_codes).")
    recorded = meta.get("vqvae_fingerprint")
    if recorded is None:
        (log_warning or print)(f"The codes in '{directory}' do not record which VQ-VAE made them "
                               "(written by an older version); make sure it is this one.")
    elif recorded != vqvae.fingerprint():
        raise ValueError(f"The codes in '{directory}' were made by another VQ-VAE (fingerprint "
                         f"{recorded}; this one is {vqvae.fingerprint()}). Encode them again "
                         "with this VQ-VAE (python -m train.encode_codes).")
    return meta


def codes_dataset(directory, batch_size, shuffle=True, repeat=True, seed=None,
                  input_context=None, n_cond_frames=None):
    """Streams pre-encoded codes (local or gs://) as static-shape prior batches.

    `n_cond_frames` is how many of the stored first frames each batch carries
    (None: all stored; 0: none, for an unconditional prior trained on codes
    written for a frame-conditioned one).
    """

    meta = read_codes_metadata(directory)
    latent = tuple(meta["latent_shape"])
    stored = meta["n_cond_frames"]
    n_cond = stored if n_cond_frames is None else int(n_cond_frames)
    if not 0 <= n_cond <= stored:
        raise ValueError(f"The codes in '{directory}' carry {stored} first frame(s) per clip; "
                         f"{n_cond_frames} were asked for.")
    spec = {"codes": tf.io.FixedLenFeature([], tf.string)}
    if n_cond:
        spec["cond_frames"] = tf.io.FixedLenFeature([], tf.string)
    if meta["with_labels"]:
        spec["label"] = tf.io.FixedLenFeature([], tf.int64)
    files = _shard_files(os.path.join(directory, "codes-*.tfrecord"))
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    ds = ds.interleave(tf.data.TFRecordDataset, num_parallel_calls=tf.data.AUTOTUNE)

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        out = {"codes": tf.reshape(tf.io.decode_raw(ex["codes"], tf.int32), latent)}
        if n_cond:
            frames = tf.io.decode_raw(ex["cond_frames"], tf.uint8)
            frames = tf.reshape(frames, (stored, *meta["frame_shape"], 3))[:n_cond]
            out["cond_frames"] = pixels.to_float(frames)
        if meta["with_labels"]:
            out["label"] = tf.cast(ex["label"], tf.int32)
        return out

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(1024, seed=seed)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)
