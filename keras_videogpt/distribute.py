"""tf.distribute helpers: choosing the strategy, cross-replica reductions, loss scaling,
and building the optimizer before the train step is traced.

`choose_strategy` is what the command lines call. The reductions keep the
replicas identical: the VQ-VAE's EMA statistics, its data-dependent init and
its dead-code restarts go through them.
"""

import json
import os
import tempfile

import tensorflow as tf

STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")


def _tf_config_workers():
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    cluster = config.get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def strategy_name(strategy="auto", tpu=None):
    """Which strategy `choose_strategy` builds for these arguments and this machine."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown strategy '{strategy}'; choose one of {STRATEGIES}.")
    if strategy != "auto":
        return strategy
    if tpu:
        return "tpu"
    if _tf_config_workers() > 1:
        return "multi_worker"
    if len(tf.config.list_physical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def choose_strategy(strategy="auto", tpu=None):
    """The tf.distribute strategy for a training run.

    With `strategy="auto"`: `TPUStrategy` when `tpu` names a TPU (a name,
    `grpc://` address, or "local" on a Cloud TPU VM); else
    `MultiWorkerMirroredStrategy` when `TF_CONFIG` names several workers; else
    `MirroredStrategy` over the visible GPUs when there are two or more; else
    the default strategy. Any other value forces that choice: "default",
    "one_device" (the first GPU, or the CPU), "mirrored" (all local GPUs, or the
    logical CPUs when there is no GPU), "multi_worker" or "tpu".

    Example:
    >>> strategy = choose_strategy()            # doctest: +SKIP
    >>> with strategy.scope():                  # doctest: +SKIP
    ...     model = VQVAE.from_preset("tiny")
    """

    strategy = strategy_name(strategy, tpu)
    if strategy == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError, RuntimeError) as e:
            raise RuntimeError(f"No TPU found for --tpu={tpu!r}: {e}. On a Cloud TPU VM use "
                               "--tpu=local; elsewhere name the TPU or its grpc:// address.") from e
        return tf.distribute.TPUStrategy(resolver)
    if strategy == "multi_worker":
        if _tf_config_workers() < 1:
            raise ValueError("--strategy=multi_worker needs TF_CONFIG with a cluster of workers.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if strategy == "one_device":
        gpus = tf.config.list_logical_devices("GPU")
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.get_strategy()


def is_chief(strategy=None):
    """Whether this worker writes the checkpoints (always true on one host)."""
    resolver = getattr(strategy or tf.distribute.get_strategy(), "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    return resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict())


def worker_dir(path, strategy=None):
    """`path` on the chief; a temporary folder elsewhere, as TF's multi-worker guide says.

    Every worker must save (saving is collective), but only the chief's copy is kept.
    """
    if is_chief(strategy):
        return path
    resolver = (strategy or tf.distribute.get_strategy()).cluster_resolver
    return os.path.join(tempfile.gettempdir(), "keras_videogpt_workers",
                        f"{resolver.task_type}_{resolver.task_id}",
                        os.path.basename(os.path.normpath(path)))


def _replica_context():
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def num_replicas():
    """Replicas in sync under the current strategy (1 outside any)."""
    return tf.distribute.get_strategy().num_replicas_in_sync


def all_reduce_sum(value):
    """Sum of `value` over replicas; the value itself with one replica."""
    ctx = _replica_context()
    return value if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.SUM, value)


def broadcast_from_first_replica(value):
    """Every replica gets replica 0's `value` (used for random codebook draws)."""
    ctx = _replica_context()
    if ctx is None:
        return value
    first = tf.cast(tf.equal(ctx.replica_id_in_sync_group, 0), value.dtype)
    return ctx.all_reduce(tf.distribute.ReduceOp.SUM, value * first)


def step_logs(logs):
    """A train/test step's scalar logs, shaped so that Keras can reduce them on any strategy.

    Keras 3 reduces per-replica logs under MultiWorkerMirroredStrategy with
    `strategy.reduce(MEAN, value, axis=0)`, which fails on scalars ("Invalid
    reduction dimension 0 for input with 0 dimensions"). There each value is
    given as `[1]`, which that reduction turns back into the scalar mean.
    """

    strategy = tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return logs
    return {k: tf.reshape(v, [1]) for k, v in logs.items()}


def scale_loss(loss):
    """Divide a per-replica mean loss so that summed gradients are a global mean."""
    n = num_replicas()
    return loss if n == 1 else loss / tf.cast(n, loss.dtype)


def build_optimizer(model):
    """Create `model.optimizer`'s slots before `fit` traces the train step.

    A tf.function whose first trace creates variables is traced once more.
    Keras builds the optimizer ahead of that only for models made under a
    strategy's scope; otherwise its slots are created inside the first trace,
    so the whole train step is traced twice. Building it here first saves
    that second trace.
    Models whose layers are not all built yet are left to Keras.
    """

    optimizer = model.optimizer
    if optimizer is None or optimizer.built:
        return
    if not all(layer.built for layer in model._flatten_layers()):  # the model itself included
        return
    with model.distribute_strategy.scope():
        optimizer.build(model.trainable_variables)
