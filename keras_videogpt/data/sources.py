"""Where clips come from, by name: a `--data` value as a batched dataset, held-out clips, and
errors that name the damaged shards of a dataset."""

import os

import numpy as np
import tensorflow as tf

from keras_videogpt.data.moving_mnist import moving_mnist_dataset
from keras_videogpt.data.tfds import tfds_dataset
from keras_videogpt.data.tfrecords import clip_dataset, scan_shards


def video_source(data, batch_size, sequence_length, resolution, num_videos=512, seed=0,
                 with_labels=False, skip_corrupt=False, split="train"):
    """A repeating, batched dataset from a `--data` flag.

    `moving_mnist` makes Moving MNIST offline; a folder or glob of TFRecord
    shards (local, or gs:// which TF reads natively) is streamed; any other
    name is a TFDS dataset, read from `split`. Held-out data (`split="test"`):
    the TFDS `test` split, or Moving MNIST clips of digits that training clips
    never show (`keras_videogpt.data.moving_mnist.DIGIT_SPLITS`).
    """
    if data == "moving_mnist":
        if with_labels:
            raise ValueError("This prior is class-conditional, but Moving MNIST clips have no "
                             "class labels: use a labelled dataset (a TFDS name such as ucf101, "
                             "or shards converted from class sub-folders) or an unconditional "
                             "preset.")
        ds = moving_mnist_dataset(num_videos, sequence_length, resolution, seed=seed,
                                  split="test" if split == "test" else "train")
        if split != "test":
            # The clips are random already; shuffling reorders each epoch. Held-out clips stay
            # in their order, so that scores never depend on TF's global seed.
            ds = ds.shuffle(num_videos, seed=seed)
        return ds.repeat().batch(batch_size, drop_remainder=True)
    if _names_shards(data):
        return clip_dataset(data, batch_size, with_labels=with_labels, seed=seed,
                                  skip_corrupt=skip_corrupt)
    if os.sep in data or data.startswith(".") or data.endswith(".tfrecord"):
        raise FileNotFoundError(f"--data '{data}' looks like a path, but nothing exists there "
                                "(TFDS names have no slashes).")

    return tfds_dataset(data, batch_size, split=split, sequence_length=sequence_length,
                        resolution=resolution, with_labels=with_labels, seed=seed)


def _names_shards(data):
    """Whether a `--data` value names TFRecord shards (a URL, an existing path, or a glob)."""
    return "://" in data or os.path.exists(data.split("*")[0]) or "*" in data


def held_out_source(data, batch_size, sequence_length, resolution, num_videos=64, seed=0,
                    with_labels=False):
    """Held-out clips for validation and reports: a TFDS name's `test` split, or Moving MNIST
    clips of the held-out digits; shards are read with another shuffle (give held-out shards
    as their own `--data` to evaluate on them)."""
    ds = video_source(data, batch_size, sequence_length, resolution, num_videos=num_videos,
                      seed=seed + 1, with_labels=with_labels,
                      split="train" if _names_shards(data) else "test")
    # `fit` reads a few validation batches per epoch from a new iterator; a few batches gain
    # nothing from autotuning.
    return without_autotuning(ds)


def without_autotuning(ds):
    """`ds` with tf.data's autotuning off, for pipelines whose iterators come and go.

    Deleting an iterator of an autotuned pipeline waits on tf.data's autotuning
    thread, at random and for up to tens of seconds on 2 cores: 7-10 s in 19 of
    the demo's 32 VQ-VAE validations (`fit` makes a new validation iterator
    every epoch), and 35 s at the end of one frame-conditioned prior's `fit`.
    Without it, the pipeline's `AUTOTUNE` settings keep their initial values.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def explain_data_loss(data, error):
    """A `DataLossError` from `fit` as an error that names the damaged shards of `data`."""
    try:
        report = scan_shards(data)
    except (FileNotFoundError, tf.errors.OpError):
        return error
    if not report["corrupt"]:
        return error
    names = "; ".join(f"'{c['file']}' after {c['readable_records']} records ({c['error']})"
                      for c in report["corrupt"][:5])
    return ValueError(f"{len(report['corrupt'])} of {report['shards']} shards in '{data}' are "
                      f"corrupt or truncated: {names}. Rerun with --skip_corrupt to train on "
                      "the readable records, or convert the videos again.")


def first_batch(ds, count):
    """The first `count` clips of a batched dataset as a numpy array."""
    clips = []
    for batch in ds:
        batch = batch["video"] if isinstance(batch, dict) else batch
        clips.append(np.asarray(batch))
        if sum(len(c) for c in clips) >= count:
            break
    return np.concatenate(clips)[:count]
