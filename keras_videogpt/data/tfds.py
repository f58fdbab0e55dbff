"""Named video datasets from `tensorflow_datasets` (optional extra `[tfds]`)."""

import tensorflow as tf

from keras_videogpt import pixels

# TFDS name -> (video feature, label feature or None)
DATASETS = {
    "bair_robot_pushing_small": ("image_main", None),
    "ucf101": ("video", "label"),
    "moving_mnist": ("image_sequence", None),
}


def _resize_crop(video, resolution):
    """Shorter side to `resolution` (bilinear), center crop; graph-friendly."""
    shape = tf.shape(video)
    h, w = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    scale = resolution / tf.minimum(h, w)
    size = tf.cast(tf.math.ceil(tf.stack([h * scale, w * scale])), tf.int32)
    size = tf.maximum(size, resolution)
    video = tf.image.resize(tf.cast(video, tf.float32), size, method="bilinear")
    top, left = (size[0] - resolution) // 2, (size[1] - resolution) // 2
    return video[:, top:top + resolution, left:left + resolution]


def tfds_dataset(name, batch_size, split="train", sequence_length=16, resolution=64,
                 with_labels=False, shuffle=True, repeat=True, seed=None, data_dir=None,
                 drop_remainder=True):
    """A batched dataset of float32 `[B, T, H, W, 3]` clips in [-0.5, 0.5] from TFDS.

    Clips are `sequence_length` frames from a random start (the first frame
    when `shuffle=False`); videos shorter than that are dropped. Frames are
    resized to `resolution` (shorter side, then center crop) and grey is
    repeated to 3 channels. UCF-101 keeps its class label when
    `with_labels=True`; the batch is then a `{"video", "label"}` dict.

    Args:
        name: one of `bair_robot_pushing_small`, `ucf101`, `moving_mnist`
            (TFDS's Moving MNIST has only a `test` split).
        batch_size, split, sequence_length, resolution, shuffle, repeat, seed,
        data_dir, drop_remainder: the usual.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:
        raise ImportError("Named datasets need tensorflow-datasets: "
                          "`pip install keras-videogpt[tfds]`.") from e
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset '{name}'. Available: {', '.join(sorted(DATASETS))}.")
    video_key, label_key = DATASETS[name]
    if with_labels and label_key is None:
        raise ValueError(f"'{name}' has no class labels.")
    # A seed fixes the file order too, so a resumed run can skip to where it stopped.
    read_config = tfds.ReadConfig(shuffle_seed=seed) if seed is not None else None
    ds = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=shuffle,
                   read_config=read_config)
    ds = ds.filter(lambda ex: tf.shape(ex[video_key])[0] >= sequence_length)

    def prepare(ex):
        video = ex[video_key]
        t = tf.shape(video)[0]
        start = 0
        if shuffle:
            start = tf.random.uniform((), 0, t - sequence_length + 1, tf.int32, seed=seed)
        video = video[start:start + sequence_length]
        video = _resize_crop(video, resolution)
        video = tf.broadcast_to(video, [sequence_length, resolution, resolution, 3]) \
            if video.shape[-1] == 1 else video
        video = tf.ensure_shape(pixels.to_float(video), (sequence_length, resolution, resolution, 3))
        if with_labels:
            return {"video": video, "label": tf.cast(ex[label_key], tf.int32)}
        return video

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if shuffle:
        ds = ds.shuffle(256, seed=seed)
    if repeat:
        ds = ds.repeat()
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(tf.data.AUTOTUNE)
