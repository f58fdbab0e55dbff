"""A training run's folder: refusing to overwrite, resuming, callbacks, JSON reports."""

import importlib.util
import inspect
import json
import os

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from keras_videogpt import distribute
from keras_videogpt.callbacks import (BackupError, BackupRandomState, RunBackup,
                                      StopOnNonFiniteLoss)
from keras_videogpt.distribute import worker_dir
from keras_videogpt.prior.model import RENAMED_CONFIG_KEYS


def setup(strategy="auto", tpu=None, mixed_precision=None):
    """Sets the Keras dtype policy and returns the tf.distribute strategy for a run.

    Args:
        strategy: see `keras_videogpt.distribute.choose_strategy`.
        tpu: the TPU's name or address (`local` on a Cloud TPU VM).
        mixed_precision: None/"float32", "mixed_bfloat16" (TPU) or "mixed_float16"
            (GPU; the optimizer then scales the loss).
    """

    policies = (None, "float32", "mixed_bfloat16", "mixed_float16")
    if mixed_precision not in policies:
        raise ValueError(f"Unknown mixed precision policy '{mixed_precision}'; choose one of "
                         f"{policies[1:]}.")
    keras.mixed_precision.set_global_policy(mixed_precision or "float32")
    return distribute.choose_strategy(strategy, tpu)


def check_schedule(batch_size, epochs, steps_per_epoch):
    """Refuses batch sizes, epochs and steps per epoch that are not whole numbers >= 1."""
    for name, value in (("batch_size", batch_size), ("epochs", epochs),
                        ("steps_per_epoch", steps_per_epoch)):
        if isinstance(value, bool) or not float(value).is_integer() or value < 1:
            raise ValueError(f"--{name} must be a whole number >= 1; got {value}.")


# Flags that may change when a run resumes (they take effect, and the change is
# logged), and those that may not (the backup's optimizer state depends on them).
RESUMABLE_CHANGES = ("learning_rate", "epochs", "steps_per_epoch")


FIXED_ON_RESUME = {"mixed_precision": "the optimizer's saved state (its loss scale under "
                                      "mixed_float16) belongs to the precision it was made with"}


def backup_epoch(workdir):
    """The epoch recorded in `workdir`'s backup, or None when there is no backup."""
    path = os.path.join(workdir, "backup", "training_metadata.json")
    if not tf.io.gfile.exists(path):
        return None

    try:
        with tf.io.gfile.GFile(path) as f:
            return int(json.load(f)["epoch"])
    except (ValueError, KeyError, TypeError) as e:
        raise BackupError(f"The backup metadata '{path}' is damaged ({type(e).__name__}: {e}). "
                          "Delete it and rerun with --restart to train from scratch.") from e


def prepare_workdir(workdir, model_file, restart=False):
    """Refuses to overwrite a trained model that has no backup to resume from.

    With `restart`, the backup and `run.json` are removed, so the run starts
    from scratch and overwrites `model_file`.
    """

    model_path = os.path.join(workdir, model_file)
    if restart:
        for name in ("backup", "run.json"):
            path = os.path.join(workdir, name)
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        return
    if tf.io.gfile.exists(model_path) and backup_epoch(workdir) is None:
        raise FileExistsError(
            f"'{model_path}' holds a trained model, and '{workdir}/backup' has no backup to "
            "resume from: training would start from random weights and overwrite it. Pass "
            "--restart to train from scratch anyway, or use another --workdir.")


def init_defaults(cls):
    """The keyword defaults of a model class's constructor, as `get_config` writes them."""
    return {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
            if p.default is not inspect.Parameter.empty}


def check_workdir(workdir, model_config, data_config=None, train_config=None, defaults=None):
    """Refuses a workdir that holds a run of another model, so a resume never mixes two.

    The first run writes `run.json` with the model's config, the settings
    that fix its data stream (`data_config`) and the training settings
    (`train_config`); later runs compare theirs to it. Another model is
    refused. Another data stream only warns, as the resumed run then cannot
    continue the stream where it stopped. A changed learning rate, epoch
    count or epoch length takes effect and is logged; a change that the
    backup cannot follow (see `FIXED_ON_RESUME`) is refused. A `run.json`
    whose run never saved a backup does not bind the next run. `defaults`
    (`init_defaults(cls)`) lets a run that predates a new config key resume
    when the key keeps its default.
    """

    path = os.path.join(workdir, "run.json")
    config = json.loads(json.dumps(model_config, default=lambda v: np.asarray(v).tolist()))
    for key in ("name", "trainable", "dtype", "synchronized_bn"):  # may change on resume
        config.pop(key, None)
    train_config = json.loads(json.dumps(train_config or {}))
    if os.path.exists(path) and backup_epoch(workdir) is not None:
        try:
            with open(path) as f:
                run = json.load(f)
        except ValueError as e:
            raise ValueError(f"'{path}' is damaged ({e}); rerun with --restart to start over.")
        previous = dict(run.get("model_config", {}))
        for old, new in RENAMED_CONFIG_KEYS.items():
            if old in previous and new in config:
                previous[new] = previous.pop(old)
        # A key added to the model since the run started is no change at its default.
        defaults = json.loads(json.dumps(defaults or {}, default=str))
        changed = sorted(k for k in set(config) | set(previous)
                         if config.get(k) != previous.get(k)
                         and not (k not in previous and k in defaults
                                  and config.get(k) == defaults[k]))
        if changed:
            raise ValueError(
                f"'{workdir}' holds a run of another model (it differs in {changed}), so its "
                "backup cannot be resumed. Use another --workdir, or --restart to replace it.")
        old_data = run.get("data_config")
        if data_config is not None and old_data is not None and old_data != data_config:
            logging.warning("The data settings differ from the first run in '%s' (%s, was %s): "
                            "training resumes, but not at the same place in the data.",
                            workdir, data_config, old_data)
        old_train = run.get("train_config") or {}
        for key, why in FIXED_ON_RESUME.items():
            if key in old_train and key in train_config and old_train[key] != train_config[key]:
                raise ValueError(
                    f"--{key} was {old_train[key]} in the run being resumed in '{workdir}' and "
                    f"cannot change mid-run ({why}). Use --{key}={old_train[key]}, or --restart.")
        for key in RESUMABLE_CHANGES:
            if key in old_train and key in train_config and old_train[key] != train_config[key]:
                logging.info("Resuming with --%s=%s (the run had %s).", key, train_config[key],
                             old_train[key])
        run["train_config"] = dict(old_train, **train_config)
    else:
        os.makedirs(workdir, exist_ok=True)
        run = {"model_config": config, "data_config": data_config, "train_config": train_config}
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(run, f, indent=2)
    os.replace(tmp, path)


def resume_batches(workdir, steps_per_epoch):
    """How many batches the run being resumed in `workdir` trained on (0 for a new run).

    `BackupAndRestore` resumes at the start of the epoch after its last
    backup. Our training streams are deterministic (seeded shuffles over a
    repeated source), so skipping this many batches of a fresh stream puts
    the resumed run where the stopped one was, rather than showing it the
    first batches again.
    """
    return (backup_epoch(workdir) or 0) * int(steps_per_epoch)


def fit_callbacks(workdir, checkpoint_name, strategy=None, validation=False, videos=None):
    """Resume-after-kill, checkpoints, a NaN stop and TensorBoard logs under `workdir`.

    The backup holds the weights, the optimizer, the EMA codebook, the epoch
    and the random-number state; `resume_batches` gives the data position.
    With `validation`, `best.<checkpoint_name>` keeps the model of the lowest
    `val_loss`. `videos`, a `VideoSummary`, writes videos to the TensorBoard
    logs.

    Under MultiWorkerMirroredStrategy only the chief writes to `workdir`;
    the other workers write to temporary folders, as TF's guide prescribes.
    """

    workdir = worker_dir(workdir, strategy)
    backup = os.path.join(workdir, "backup")
    callbacks = [
        StopOnNonFiniteLoss(workdir),
        RunBackup(backup),
        BackupRandomState(backup),
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, checkpoint_name)),
    ]
    if validation:
        callbacks.append(keras.callbacks.ModelCheckpoint(
            os.path.join(workdir, "best." + checkpoint_name), monitor="val_loss",
            save_best_only=True))
    if importlib.util.find_spec("tensorboard") is None:
        logging.warning("TensorBoard is not installed, so no logs are written "
                        "(`pip install keras-videogpt[train]`).")
    else:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(workdir, "logs"),
                                                     update_freq=20))
        if videos is not None:
            videos.log_dir = os.path.join(workdir, "logs", "videos")
            callbacks.append(videos)
    return callbacks


def read_json(path):
    """The JSON object in the file at `path`, or `{}` if there is no such file."""
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _dump_json(path, values):
    with open(path, "w") as f:
        json.dump(values, f, indent=2, default=lambda v: np.asarray(v).tolist())
    return values


def write_json(path, values):
    """Merge `values` into the JSON file at `path` (created if needed)."""
    return _dump_json(path, {**read_json(path), **values})


def add_seconds(path, seconds):
    """Add each stage's `seconds` to those already in the JSON file at `path`.

    A stage that was stopped and resumed then reports its whole wall time, not
    only that of its last session. Returns the totals.
    """
    current = read_json(path)
    return _dump_json(path, {**current, **{k: round(current.get(k, 0.0) + v, 1)
                                           for k, v in seconds.items()}})


def check_report_path(path):
    """Fails before any work when `path` cannot take a JSON report (a folder, a non-JSON file)."""
    if os.path.isdir(path):
        raise ValueError(f"--out '{path}' is a folder; give the path of a .json file.")
    if os.path.exists(path):
        try:
            with open(path) as f:
                json.load(f)
        except (ValueError, UnicodeDecodeError) as e:
            raise ValueError(f"--out '{path}' exists and is not a JSON report ({e}); it would be "
                             "overwritten. Remove it or pick another path.") from None


def write_report(path, report):
    """Writes `report` as the whole of `path` (never merged with an older report), atomically."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(report, f, indent=2, default=lambda v: np.asarray(v).tolist())
    os.replace(tmp, path)
