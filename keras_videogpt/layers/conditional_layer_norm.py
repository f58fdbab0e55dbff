"""Layer normalisation, optionally conditioned on a class or action vector."""

import numpy as np
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_videogpt")
class ConditionalLayerNorm(keras.layers.Layer):
    """LayerNorm over the last axis, with an optional conditional gain and bias.

    Unconditional: `y = norm(x) * g + b`. Conditional (`cond_dim` set): the gain
    is `1 + cond @ w` and the bias `cond @ wb`, predicted from a one-hot or
    continuous vector of width `cond_dim`, as in the reference.

    Statistics are computed in float32 whatever the compute dtype.

    Args:
        cond_dim: width of the conditioning vector, or None.
        epsilon: the epsilon.
        reference_epsilon: if False (default), the usual
            `(x - mean) / sqrt(var + epsilon)`. If True, the reference
            VideoGPT's form `(x - mean) * (1 / sqrt(var) + epsilon)`, with the
            epsilon added after the reciprocal square root. Converted
            reference checkpoints need it; note that it divides by zero on a
            constant input.

    Example:
    >>> norm = ConditionalLayerNorm(cond_dim=10)
    >>> norm(keras.ops.ones((2, 5, 8)), cond=keras.ops.ones((2, 10))).shape
    (2, 5, 8)
    """

    def __init__(self, cond_dim=None, epsilon=1e-5, reference_epsilon=False, **kwargs):
        super().__init__(**kwargs)
        self.cond_dim = None if cond_dim is None else int(cond_dim)
        self.epsilon = float(epsilon)
        self.reference_epsilon = bool(reference_epsilon)

    def build(self, x_shape, cond_shape=None):
        dim = int(x_shape[-1])
        if self.cond_dim is None:
            self.gamma = self.add_weight(name="gamma", shape=(dim,), initializer="ones")
            self.beta = self.add_weight(name="beta", shape=(dim,), initializer="zeros")
        else:
            bound = 1.0 / np.sqrt(self.cond_dim)
            self.gain_kernel = self.add_weight(
                name="gain_kernel", shape=(self.cond_dim, dim),
                initializer=keras.initializers.Constant(bound))
            self.bias_kernel = self.add_weight(
                name="bias_kernel", shape=(self.cond_dim, dim),
                initializer=keras.initializers.RandomUniform(-bound, bound))

    def call(self, x, cond=None):
        dtype = x.dtype
        xf = ops.cast(x, "float32")
        mean = ops.mean(xf, axis=-1, keepdims=True)
        var = ops.mean(ops.square(xf - mean), axis=-1, keepdims=True)
        if self.reference_epsilon:
            xf = (xf - mean) * (ops.rsqrt(var) + self.epsilon)
        else:
            xf = (xf - mean) * ops.rsqrt(var + self.epsilon)
        if self.cond_dim is None:
            gain, bias = self.gamma, self.beta
        else:
            if cond is None:
                raise ValueError("This LayerNorm is conditional: pass `cond`, a "
                                 f"[batch, {self.cond_dim}] vector.")
            cond = ops.cast(cond, "float32")
            gain = 1.0 + ops.matmul(cond, ops.cast(self.gain_kernel, "float32"))
            bias = ops.matmul(cond, ops.cast(self.bias_kernel, "float32"))
            expand = (ops.shape(gain)[0],) + (1,) * (len(x.shape) - 2) + (gain.shape[-1],)
            gain, bias = ops.reshape(gain, expand), ops.reshape(bias, expand)
        y = xf * ops.cast(gain, "float32") + ops.cast(bias, "float32")
        return ops.cast(y, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(cond_dim=self.cond_dim, epsilon=self.epsilon,
                      reference_epsilon=self.reference_epsilon)
        return config


# Layer configs serialized before the rename name this class "keras_videogpt>LayerNorm".
keras.saving.get_custom_objects()["keras_videogpt>LayerNorm"] = ConditionalLayerNorm
