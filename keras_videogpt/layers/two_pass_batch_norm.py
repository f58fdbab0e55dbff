"""BatchNorm whose cross-replica statistics are as precise as one device's."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="keras_videogpt")
class TwoPassBatchNorm(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with two-pass synchronized moments.

    With `synchronized=True` under a tf.distribute strategy, Keras computes the
    variance in one pass as `E[x^2] - E[x]^2` over all replicas, which loses
    about 1e-3 relative precision in float32 and made 2 replicas drift ~1% from
    one device in a single step. This layer all-reduces the mean first, then
    the squared deviations from it: N replicas match one device on the same
    global batch to float rounding. Everything else is Keras's BatchNorm.

    Example:
    >>> norm = TwoPassBatchNorm(momentum=0.9, epsilon=1e-5, synchronized=True)  # doctest: +SKIP
    """

    def _moments(self, inputs, mask):
        ctx = tf.distribute.get_replica_context() if self.synchronized else None
        if mask is not None or ctx is None or ctx.num_replicas_in_sync == 1:
            return super()._moments(inputs, mask)
        x = tf.cast(inputs, tf.float32)
        axes = self._reduction_axes
        total = tf.cast(tf.size(x), tf.float32) / tf.cast(tf.shape(x)[self.axis], tf.float32)
        count = ctx.all_reduce(tf.distribute.ReduceOp.SUM, total)
        mean = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.reduce_sum(x, axes)) / count
        shape = [1] * len(x.shape)
        shape[self.axis] = -1
        centred = x - tf.reshape(mean, shape)
        variance = ctx.all_reduce(tf.distribute.ReduceOp.SUM,
                                  tf.reduce_sum(tf.square(centred), axes)) / count
        return tf.cast(mean, inputs.dtype), tf.cast(variance, inputs.dtype)


# Layer configs serialized before the rename name this class "keras_videogpt>BatchNorm".
keras.saving.get_custom_objects()["keras_videogpt>BatchNorm"] = TwoPassBatchNorm
