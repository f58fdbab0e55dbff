"""Small XLA-compiled islands inside an uncompiled TF graph.

On CPU, TF's executor runs the VQ-VAE's convolutions well (oneDNN) but pays
for every one of the many small ops of its axial attention; XLA is the other
way round (its CPU conv3d is many times slower, its fused attention about
twice as fast). A layer that calls `Island(fn)` instead of `fn` gets both:
in a TF graph that is not compiled as a whole, `fn` runs as one XLA
cluster. BatchNorm stays outside: in an island its moving averages would
update inside XLA, which distribution strategies' variables do not allow,
and it gained little.
The result is the same computation, so values agree to float32 rounding.

Islands are skipped where they cannot help or are not allowed: under a
backend other than TensorFlow, on symbolic Keras tensors, and inside
`no_islands()`, which the SavedModel export uses because a served graph must
hold stock TF ops only (TF Serving need not be built with XLA).
"""

import contextlib
import threading

import keras
import tensorflow as tf

_STATE = threading.local()


def islands_enabled():
    """Whether `island` compiles (TensorFlow backend, not inside `no_islands()`)."""
    return getattr(_STATE, "enabled", True) and keras.backend.backend() == "tensorflow"


@contextlib.contextmanager
def no_islands():
    """Within this context (in this thread), layers trace plain TF ops, with no XLA clusters."""
    previous = getattr(_STATE, "enabled", True)
    _STATE.enabled = False
    try:
        yield
    finally:
        _STATE.enabled = previous


class Island:
    """`fn` compiled with XLA on TF tensors when islands are enabled, else `fn` itself.

    Args:
        fn: a function of tensors (and Python values, which retrace).
    """

    def __init__(self, fn):
        self.fn = fn
        self._compiled = None

    def __call__(self, x, *args):
        if not (islands_enabled() and isinstance(x, tf.Tensor)):
            return self.fn(x, *args)
        if self._compiled is None:
            self._compiled = tf.function(self.fn, jit_compile=True, autograph=False)
            # An island compiles once per shape by design. Called eagerly at a few batch
            # sizes, many islands of one function (every Winograd conv's) made TF warn of
            # "excessive retracing" in the middle of the demo's output.
            self._compiled._omit_frequent_tracing_warning = True
        return self._compiled(x, *args)
