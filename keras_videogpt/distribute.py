"""tf.distribute helpers: cross-replica reductions and loss scaling.

Strategy selection for the command lines lives in `choose_strategy` (issue 5
extends it); the reductions here are what keep replicas identical.
"""

import tensorflow as tf


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


def scale_loss(loss):
    """Divide a per-replica mean loss so that summed gradients are a global mean."""
    n = num_replicas()
    return loss if n == 1 else loss / tf.cast(n, loss.dtype)
