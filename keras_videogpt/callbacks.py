"""Training callbacks that the command lines add to `fit`."""

import json
import math
import os
import warnings

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_videogpt.sampling import Sampler
from keras_videogpt.visualize import filmstrip, to_uint8


class NonFiniteLossError(RuntimeError):
    """The loss became NaN or Inf; raised by `StopOnNonFiniteLoss`."""


class BackupError(RuntimeError):
    """A run's backup is incomplete or damaged; raised by `RunBackup` before training."""


def _replace(tmp, path):
    tf.io.gfile.rename(tmp, path, overwrite=True)


class RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` that never leaves a half-written backup, nor resumes from one.

    - Writes are atomic: the weights and the epoch go to temporary files that
      are then renamed over the backup, so a kill mid-write leaves the last
      complete backup in place.
    - A backup whose metadata names an epoch but whose weights are missing,
      or whose weights or metadata cannot be read, stops the run before any
      training, naming the file and what to do: training from random weights
      would silently overwrite the trained model.
    - A learning rate set anew (a plain number, not a schedule) takes effect
      on resume. Keras restores the optimizer's learning-rate variable with
      the weights, which would silently keep the old rate; the change is
      logged.

    Args:
        backup_dir: the folder of `latest.weights.h5` and `training_metadata.json`.
    """

    def __init__(self, backup_dir):
        super().__init__(backup_dir, save_freq="epoch", delete_checkpoint=False,
                         double_checkpoint=False)

    def _metadata(self):
        path = self._training_metadata_path
        try:
            with tf.io.gfile.GFile(path) as f:
                metadata = json.load(f)
            return int(metadata["epoch"])
        except (ValueError, KeyError, TypeError) as e:
            raise BackupError(
                f"The backup metadata '{path}' is damaged ({type(e).__name__}: {e}). Delete "
                f"the folder '{self.backup_dir}' and rerun with --restart to train from "
                "scratch.") from e

    def on_train_begin(self, logs=None):
        weights, meta = self._weights_path, self._training_metadata_path
        if not tf.io.gfile.exists(meta):
            return  # nothing to resume (weights alone, without the epoch, are never written)
        epoch = self._metadata()
        if not tf.io.gfile.exists(weights):
            raise BackupError(
                f"The backup in '{self.backup_dir}' is incomplete: '{meta}' records epoch "
                f"{epoch}, but its weights '{weights}' are missing. Restore that file to resume, "
                "or rerun with --restart to train from scratch (which overwrites the model).")
        optimizer = self.model.optimizer
        rate = getattr(optimizer, "_learning_rate", None) if optimizer is not None else None
        wanted = float(rate.numpy()) if isinstance(rate, keras.Variable) else None
        try:
            self._load_model()
        except Exception as e:  # h5py's OSError for a truncated file, ValueError for a mismatch
            raise BackupError(
                f"The backup weights '{weights}' cannot be read ({type(e).__name__}: "
                f"{str(e).splitlines()[0] if str(e) else ''}). Restore the file, or rerun with "
                "--restart to train from scratch (which overwrites the model).") from e
        if wanted is not None:
            restored = float(rate.numpy())
            if not np.isclose(restored, wanted, rtol=1e-6, atol=0.0):
                rate.assign(wanted)
                logging.info("Resuming with learning rate %g (the backup had %g).", wanted,
                             restored)

    def _save_model(self):
        tf.io.gfile.makedirs(self.backup_dir)
        tmp_weights = self._weights_path[:-len(".weights.h5")] + ".partial.weights.h5"
        self.model.save_weights(tmp_weights, overwrite=True)
        _replace(tmp_weights, self._weights_path)
        tmp_meta = self._training_metadata_path + ".partial"
        with tf.io.gfile.GFile(tmp_meta, "w") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
        _replace(tmp_meta, self._training_metadata_path)


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
        try:
            with tf.io.gfile.GFile(self.path) as f:
                saved = json.load(f)
        except ValueError as e:
            raise BackupError(f"The backup's random state '{self.path}' is damaged ({e}). "
                              f"Delete that file to resume with fresh random draws.") from e
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


class VideoSummary(keras.callbacks.Callback):
    """Shows what the model makes in TensorBoard's Images tab, every `every` epochs.

    For a `VQVAE`: held-out `clips` above their reconstructions. For a
    `VideoGPT`: `num_samples` videos drawn with a fixed seed and decoded by
    `vqvae` (frame-conditioned priors continue the first frames of `clips`,
    class-conditional ones take the classes 0, 1, 2, ...), so the epochs can be
    compared. Each summary is a filmstrip: a row per clip, frames left to
    right. Put it beside `keras.callbacks.TensorBoard(log_dir)`.

    Args:
        log_dir: the folder of its event files, e.g. `logs/videos` beside the
            TensorBoard callback's `logs/train` and `logs/validation`.
        clips: held-out clips `[N, T, H, W, 3]`, uint8 or floats in [-0.5, 0.5].
        vqvae: for a prior, the VQ-VAE that decodes its codes.
        every: epochs between summaries.
        num_samples: videos a prior draws.
        seed: the prior's sampling seed.

    Example:
    >>> summary = VideoSummary("runs/x/logs/videos", held_out[:4])  # doctest: +SKIP
    >>> vqvae.fit(ds, epochs=8, callbacks=[summary])                # doctest: +SKIP
    """

    def __init__(self, log_dir, clips=None, vqvae=None, every=1, num_samples=4, seed=0):
        super().__init__()
        if int(every) < 1:
            raise ValueError(f"every must be >= 1; got {every}.")
        self.log_dir = log_dir
        self.clips = None if clips is None else np.asarray(clips)
        self.vqvae, self.every = vqvae, int(every)
        self.num_samples, self.seed = int(num_samples), seed
        self._writer = None
        self._sampler = None

    def _images(self):
        model = self.model
        if hasattr(model, "encode"):  # a VQ-VAE
            if self.clips is None:
                raise ValueError("VideoSummary needs held-out `clips` to show reconstructions.")
            recon = np.clip(np.asarray(model(self.clips, training=False), "float32"), -0.5, 0.5)
            return {"reconstructions": filmstrip(np.concatenate([to_uint8(self.clips),
                                                                 to_uint8(recon)]))}
        if self.vqvae is None:
            raise ValueError("VideoSummary needs the `vqvae` to decode a prior's samples.")
        if self._sampler is None:
            self._sampler = Sampler(model, self.vqvae)
        cond = {}
        if model.n_cond_frames:
            if self.clips is None:
                raise ValueError("A frame-conditioned prior needs `clips` to continue.")
            cond["cond_frames"] = self.clips[:self.num_samples, :model.n_cond_frames]
        if model.class_cond_dim is not None:
            cond["label"] = np.arange(self.num_samples) % model.class_cond_dim
        out = self._sampler.sample(self.num_samples, self.seed, **cond)
        return {"samples": filmstrip(out["video_uint8"].numpy())}

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for name, image in self._images().items():
                tf.summary.image(name, image[None], step=epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
