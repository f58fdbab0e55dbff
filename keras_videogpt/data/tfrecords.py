"""TFRecord shards of fixed-length uint8 clips, and a reader that streams them into `fit`."""

import json
import os

import tensorflow as tf

from keras_videogpt import pixels

METADATA = "metadata.json"


def clip_example(video, label=-1, name=""):
    """A `tf.train.Example` holding a uint8 `[T, H, W, C]` clip, its label and source name."""
    t, h, w, c = video.shape
    feature = {
        "video": tf.train.Feature(bytes_list=tf.train.BytesList(value=[video.tobytes()])),
        "shape": tf.train.Feature(int64_list=tf.train.Int64List(value=[t, h, w, c])),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "name": tf.train.Feature(bytes_list=tf.train.BytesList(value=[name.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature))


class ShardWriter:
    """Writes examples to `{prefix}-NNNNN.tfrecord` files of `per_shard` examples each."""
    def __init__(self, directory, prefix="clips", per_shard=256):
        tf.io.gfile.makedirs(directory)
        self.directory, self.prefix, self.per_shard = directory, prefix, per_shard
        self.count, self.paths, self._writer = 0, [], None

    def write(self, example):
        if self.count % self.per_shard == 0:
            self._rotate()
        self._writer.write(example.SerializeToString())
        self.count += 1

    def _rotate(self):
        if self._writer is not None:
            self._writer.close()
        path = os.path.join(self.directory, f"{self.prefix}-{len(self.paths):05d}.tfrecord")
        self.paths.append(path)
        self._writer = tf.io.TFRecordWriter(path)

    def close(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.paths


def read_json(directory, name, hint):
    """`directory/name` (local or gs://) as JSON; a missing file names `hint`."""
    path = os.path.join(directory, name)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"No {name} in '{directory}': {hint}")
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def read_metadata(directory):
    """The `metadata.json` a converter wrote beside its shards."""
    return read_json(directory, METADATA,
                     "is it a folder of clips written by `convert_video_folder`?")


def _shard_files(pattern):
    if tf.io.gfile.isdir(pattern):
        pattern = os.path.join(pattern, "*.tfrecord")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        raise FileNotFoundError(f"No TFRecord shards match '{pattern}'.")
    return files


def scan_shards(pattern):
    """Reads every record of every shard; names the shards that are corrupt or truncated.

    TF's own `DataLossError` says where in a file a record broke, not which
    file. Returns `{"shards", "records", "corrupt"}`, where `corrupt` lists
    `{"file", "readable_records", "error"}`.
    """

    report = {"shards": 0, "records": 0, "corrupt": []}

    def count(ds):
        return int(ds.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))

    for path in _shard_files(pattern):
        report["shards"] += 1
        try:
            report["records"] += count(tf.data.TFRecordDataset(path))
        except tf.errors.DataLossError as e:
            readable = count(tf.data.TFRecordDataset(path).ignore_errors())
            report["records"] += readable
            reason = e.message.split("}}")[-1].split("[Op:")[0].strip()
            report["corrupt"].append({"file": path, "readable_records": readable,
                                      "error": reason})
    return report


def clip_dataset(pattern, batch_size, clip_shape=None, with_labels=False, shuffle=True,
                 repeat=True, seed=None, shuffle_buffer=256, drop_remainder=True,
                 input_context=None, skip_corrupt=False):
    """Streams clips from TFRecord shards, local or on `gs://`, for `fit`.

    Args:
        pattern: a shard directory, or a glob like `gs://bucket/clips/*.tfrecord`.
        batch_size: the batch size (per replica when `input_context` is given).
        clip_shape: `(T, H, W, C)` of the stored clips; read from the folder's
            `metadata.json` when omitted.
        with_labels: yield `{"video", "label"}` dicts instead of videos.
        shuffle, repeat, seed, shuffle_buffer: the usual.
        drop_remainder: keep True for static shapes (TPU, XLA).
        input_context: a `tf.distribute.InputContext`; shards are split across
            input pipelines (use with `strategy.distribute_datasets_from_function`).
        skip_corrupt: read each shard up to its first corrupt or truncated
            record and go on with the next, instead of failing with
            `DataLossError` (`scan_shards` names the damaged shards).

    Returns:
        A dataset of float32 `[B, T, H, W, C]` clips in [-0.5, 0.5] with a
        static batch dimension (or dicts that hold them).
    """

    files = _shard_files(pattern)
    directory = pattern if tf.io.gfile.isdir(pattern) else os.path.dirname(pattern)
    metadata = None  # read once: on gs:// every read is a request
    if clip_shape is None or (tf.io.gfile.isdir(pattern) and tf.io.gfile.exists(
            os.path.join(directory, METADATA))):
        metadata = read_metadata(directory)
    if clip_shape is None:
        clip_shape = metadata["clip_shape"]
    if tf.io.gfile.isdir(pattern) and metadata is not None:
        listed = metadata.get("shards")
        found = sorted(os.path.basename(f) for f in files)
        if listed is not None and sorted(listed) != found:
            extra = sorted(set(found) - set(listed))
            missing = sorted(set(listed) - set(found))
            raise ValueError(
                f"The shards in '{directory}' do not match its metadata.json: "
                f"{len(extra)} not listed there {extra[:4]}, {len(missing)} missing "
                f"{missing[:4]}. Convert the videos again into an empty folder.")
    clip_shape = tuple(int(s) for s in clip_shape)
    ds = tf.data.Dataset.from_tensor_slices(files)
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if shuffle:
        ds = ds.shuffle(len(files), seed=seed)
    # Seeded streams stay deterministic, so that a resumed run can skip to its position.
    read = tf.data.TFRecordDataset
    if skip_corrupt:
        read = lambda path: tf.data.TFRecordDataset(path).ignore_errors()  # noqa: E731
    ds = ds.interleave(read, cycle_length=min(4, len(files)),
                       num_parallel_calls=tf.data.AUTOTUNE,
                       deterministic=not shuffle or seed is not None)
    spec = {"video": tf.io.FixedLenFeature([], tf.string),
            "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1)}

    def parse(record):
        ex = tf.io.parse_single_example(record, spec)
        video = tf.reshape(tf.io.decode_raw(ex["video"], tf.uint8), clip_shape)
        video = pixels.to_float(video)
        if with_labels:
            return {"video": video, "label": tf.cast(ex["label"], tf.int32)}
        return video

    ds = ds.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(shuffle_buffer, seed=seed)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
