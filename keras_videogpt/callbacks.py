"""Training callbacks that the command lines add to `fit`."""

import json
import math
import os
import warnings

import keras
import numpy as np
import tensorflow as tf


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; raised by `StopOnNonFiniteLoss`."""


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops `fit` at the first NaN or Inf loss, before any checkpoint of those weights.

    Unlike `keras.callbacks.TerminateOnNaN`, which lets the epoch end (so
    `ModelCheckpoint` and `BackupAndRestore` would save the broken weights),
    this raises at once: the last checkpoint and backup stay the last good ones.

    Args:
        checkpoint_dir: named in the error, as where the last good state is.

    Example:
    >>> model.fit(ds, callbacks=[StopOnNonFiniteLoss("runs/x")])   # doctest: +SKIP
    """

    def __init__(self, checkpoint_dir=None):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(float(loss)):
            return
        where = f" The last good checkpoint and backup are in '{self.checkpoint_dir}'." if (
            self.checkpoint_dir) else ""
        raise NonFiniteLossError(
            f"The loss became {float(loss)} at epoch {self._epoch + 1}, batch {batch + 1}; "
            f"training stopped without saving these weights.{where} To go on: lower the "
            "learning rate, use mixed_bfloat16 rather than mixed_float16 (or float32), and "
            "check the data for NaN; then run the same command again to resume from the last "
            "backup.")


def seed_states(model):
    """The state variables of every `keras.random.SeedGenerator` in `model`, in a fixed order.

    Keras saves none of them with the weights, so a resumed run would redraw
    the random numbers (codebook restarts, dropout masks) of its first steps.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


class BackupRandomState(keras.callbacks.Callback):
    """Saves and restores the model's random-number state beside `BackupAndRestore`'s backup.

    Put it after `keras.callbacks.BackupAndRestore(backup_dir)` in the callback
    list. At each epoch end it writes the state of every seed generator (see
    `seed_states`) to `backup_dir/random_state.json`, tagged with the epoch;
    when training begins it restores them, if the tag matches the epoch that
    the backup resumes from. With the data position restored too (see
    `train.common.resume_batches`), a resumed run then computes what an
    uninterrupted one would have.

    Args:
        backup_dir: the folder given to `BackupAndRestore`.
    """

    def __init__(self, backup_dir):
        super().__init__()
        self.backup_dir = backup_dir
        self.path = os.path.join(backup_dir, "random_state.json")

    def on_train_begin(self, logs=None):
        if not tf.io.gfile.exists(self.path):
            return
        with tf.io.gfile.GFile(self.path) as f:
            saved = json.load(f)
        states = seed_states(self.model)
        resumed = getattr(self.model, "_initial_epoch", None) or 0
        if saved.get("epoch") != resumed or len(saved.get("states", [])) != len(states):
            warnings.warn(f"'{self.path}' was written at epoch {saved.get('epoch')} for "
                          f"{len(saved.get('states', []))} seed generators, but the run resumes at "
                          f"epoch {resumed} with {len(states)}; random draws start afresh.")
            return
        for variable, value in zip(states, saved["states"]):
            variable.assign(np.asarray(value, dtype=variable.dtype))

    def on_epoch_end(self, epoch, logs=None):
        states = [np.asarray(v.numpy()).tolist() for v in seed_states(self.model)]
        tf.io.gfile.makedirs(self.backup_dir)
        tmp = self.path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            json.dump({"epoch": epoch + 1, "states": states}, f)
        tf.io.gfile.rename(tmp, self.path, overwrite=True)
