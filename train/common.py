"""What the command lines share: datasets from flags, callbacks, JSON output."""

import importlib.util
import json
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging


def video_source(data, batch_size, sequence_length, resolution, num_videos=512, seed=0,
                 with_labels=False):
    """A repeating, batched training dataset from a `--data` flag.

    `moving_mnist` makes Moving MNIST offline; a folder or glob of TFRecord
    shards (local or gs://) is streamed; any other name is a TFDS dataset.
    """
    from keras_videogpt import data as kdata

    if data == "moving_mnist":
        ds = kdata.moving_mnist_dataset(num_videos, sequence_length, resolution, seed=seed)
        return ds.shuffle(num_videos, seed=seed).repeat().batch(batch_size, drop_remainder=True)
    if data.startswith("gs://") or os.path.exists(data.split("*")[0]) or "*" in data:
        return kdata.clip_dataset(data, batch_size, with_labels=with_labels, seed=seed)
    from keras_videogpt.data.tfds import tfds_dataset

    return tfds_dataset(data, batch_size, sequence_length=sequence_length,
                        resolution=resolution, with_labels=with_labels, seed=seed)


def fit_callbacks(workdir, checkpoint_name):
    """Resume-after-kill, checkpoints and TensorBoard logs under `workdir`."""
    callbacks = [
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"),
                                         save_freq="epoch", delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, checkpoint_name)),
        keras.callbacks.TerminateOnNaN(),
    ]
    if importlib.util.find_spec("tensorboard") is None:
        logging.warning("TensorBoard is not installed, so no logs are written "
                        "(`pip install keras-videogpt[train]`).")
    else:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(workdir, "logs"),
                                                     update_freq=20))
    return callbacks


def write_json(path, values):
    """Merge `values` into the JSON file at `path` (created if needed)."""
    current = {}
    if os.path.exists(path):
        with open(path) as f:
            current = json.load(f)
    current.update(values)
    with open(path, "w") as f:
        json.dump(current, f, indent=2, default=lambda v: np.asarray(v).tolist())
    return current


def first_batch(ds, count):
    """The first `count` clips of a batched dataset as a numpy array."""
    clips = []
    for batch in ds:
        batch = batch["video"] if isinstance(batch, dict) else batch
        clips.append(np.asarray(batch))
        if sum(len(c) for c in clips) >= count:
            break
    return np.concatenate(clips)[:count]




def run(main):
    """`absl.app.run(main)`, printing a bad argument's message instead of a traceback."""
    from absl import app

    def guarded(argv):
        try:
            return main(argv)
        except (ValueError, TypeError, KeyError, FileNotFoundError, FileExistsError,
                RuntimeError) as e:
            raise app.UsageError(f"{type(e).__name__}: {e}") from None

    app.run(guarded)
