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
    shards (local, or any filesystem TF reads: gs://, s3://, hdfs://) is
    streamed; any other name is a TFDS dataset.
    """
    from keras_videogpt import data as kdata

    if data == "moving_mnist":
        ds = kdata.moving_mnist_dataset(num_videos, sequence_length, resolution, seed=seed)
        return ds.shuffle(num_videos, seed=seed).repeat().batch(batch_size, drop_remainder=True)
    if "://" in data or os.path.exists(data.split("*")[0]) or "*" in data:
        return kdata.clip_dataset(data, batch_size, with_labels=with_labels, seed=seed)
    from keras_videogpt.data.tfds import tfds_dataset

    return tfds_dataset(data, batch_size, sequence_length=sequence_length,
                        resolution=resolution, with_labels=with_labels, seed=seed)


def setup(strategy="auto", tpu=None, mixed_precision=None):
    """Sets the Keras dtype policy and returns the tf.distribute strategy for a run.

    Args:
        strategy: see `keras_videogpt.distribute.choose_strategy`.
        tpu: the TPU's name or address (`local` on a Cloud TPU VM).
        mixed_precision: None/"float32", "mixed_bfloat16" (TPU) or "mixed_float16"
            (GPU; the optimizer then scales the loss).
    """
    from keras_videogpt import distribute

    policies = (None, "float32", "mixed_bfloat16", "mixed_float16")
    if mixed_precision not in policies:
        raise ValueError(f"Unknown mixed precision policy '{mixed_precision}'; choose one of "
                         f"{policies[1:]}.")
    keras.mixed_precision.set_global_policy(mixed_precision or "float32")
    return distribute.choose_strategy(strategy, tpu)


def check_workdir(workdir, model_config, data_config=None):
    """Refuses a workdir that holds a run of another model, so a resume never mixes two.

    The first run writes `run.json` with the model's config and the settings
    that fix its data stream (`data_config`); later runs compare theirs to
    it. Another model is refused; another data stream only warns, as the
    resumed run then cannot continue the stream where it stopped.
    """
    path = os.path.join(workdir, "run.json")
    config = json.loads(json.dumps(model_config, default=lambda v: np.asarray(v).tolist()))
    for key in ("name", "trainable", "dtype", "synchronized_bn"):  # may change on resume
        config.pop(key, None)
    if os.path.exists(path):
        with open(path) as f:
            run = json.load(f)
        previous = run.get("model_config", {})
        changed = sorted(k for k in set(config) | set(previous)
                         if config.get(k) != previous.get(k))
        if changed:
            raise ValueError(
                f"'{workdir}' holds a run of another model (it differs in {changed}), so its "
                "backup cannot be resumed. Use another --workdir, or delete this one.")
        old_data = run.get("data_config")
        if data_config is not None and old_data is not None and old_data != data_config:
            logging.warning("The data settings differ from the first run in '%s' (%s, was %s): "
                            "training resumes, but not at the same place in the data.",
                            workdir, data_config, old_data)
    else:
        os.makedirs(workdir, exist_ok=True)
        with open(path, "w") as f:
            json.dump({"model_config": config, "data_config": data_config}, f, indent=2)


def resume_batches(workdir, steps_per_epoch):
    """How many batches the run being resumed in `workdir` trained on (0 for a new run).

    `BackupAndRestore` resumes at the start of the epoch after its last
    backup. Our training streams are deterministic (seeded shuffles over a
    repeated source), so skipping this many batches of a fresh stream puts
    the resumed run where the stopped one was, rather than showing it the
    first batches again.
    """
    path = os.path.join(workdir, "backup", "training_metadata.json")
    if not tf.io.gfile.exists(path):
        return 0
    with tf.io.gfile.GFile(path) as f:
        epoch = int(json.load(f).get("epoch", 0))
    return epoch * int(steps_per_epoch)


def fit_callbacks(workdir, checkpoint_name, strategy=None):
    """Resume-after-kill, checkpoints, a NaN stop and TensorBoard logs under `workdir`.

    The backup holds the weights, the optimizer, the EMA codebook, the epoch
    and the random-number state; `resume_batches` gives the data position.

    Under MultiWorkerMirroredStrategy only the chief writes to `workdir`;
    the other workers write to temporary folders, as TF's guide prescribes.
    """
    from keras_videogpt.callbacks import BackupRandomState, StopOnNonFiniteLoss
    from keras_videogpt.distribute import worker_dir

    workdir = worker_dir(workdir, strategy)
    backup = os.path.join(workdir, "backup")
    callbacks = [
        StopOnNonFiniteLoss(workdir),
        keras.callbacks.BackupAndRestore(backup, save_freq="epoch", delete_checkpoint=False),
        BackupRandomState(backup),
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, checkpoint_name)),
    ]
    if importlib.util.find_spec("tensorboard") is None:
        logging.warning("TensorBoard is not installed, so no logs are written "
                        "(`pip install keras-videogpt[train]`).")
    else:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(workdir, "logs"),
                                                     update_freq=20))
    return callbacks


def define_scale_flags(flags):
    """The flags both training commands share for strategies, precision and compilation."""
    from keras_videogpt.distribute import STRATEGIES

    flags.DEFINE_enum("strategy", "auto", list(STRATEGIES), "tf.distribute strategy; 'auto' "
                      "picks TPU (--tpu), multi-worker (TF_CONFIG), mirrored (2+ GPUs), default.")
    flags.DEFINE_string("tpu", None, "TPU name or grpc:// address ('local' on a TPU VM).")
    flags.DEFINE_enum("mixed_precision", None, ["float32", "mixed_bfloat16", "mixed_float16"],
                      "Keras dtype policy (bf16 for TPU, fp16 with loss scaling for GPU).")
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA (TPU: always).")
    flags.DEFINE_integer("steps_per_execution", 1, "Train steps per tf.function call.")


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
                RuntimeError) as e:  # includes NonFiniteLossError and a missing TPU
            raise app.UsageError(f"{type(e).__name__}: {e}") from None

    app.run(guarded)
