"""Shared test helpers: locating ../shared fixtures, tiny configs, seeding."""

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Convs keep the fixed rule for their forms in the suite and in the commands it starts (no
# timing per shape, `layers.conv_tuner`); tests/test_conv_tuner.py turns tuning on.
os.environ["KERAS_VIDEOGPT_CONV_TUNING"] = "0"

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "fixtures"

TINY_VQVAE = dict(sequence_length=4, resolution=16, n_hiddens=16, n_res_layers=1,
                  embedding_dim=8, n_codes=16, downsample=(2, 2, 2), seed=0)


def fixture_path(*parts):
    """Path under ../shared/fixtures; skip when absent outside CI, fail under CI."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"Fixture {path} is missing, and CI must never skip it.")
        pytest.skip(f"Fixture {path} is absent (a clone without ../shared).")
    return path


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same Keras/NumPy/TF seed, whatever ran before it."""
    import keras

    keras.utils.set_random_seed(1234)


def randomized(prior, seed=0):
    """`prior` with a random output layer, so that its logits favour some codes (fresh
    priors give near-uniform ones, under which any sampler looks right)."""
    kernel = prior.fc_out.kernel
    kernel.assign(np.random.default_rng(seed).normal(0, 1, kernel.shape).astype("float32"))
    return prior


def count_train_step_traces(model):
    """Count how often `fit` traces `model.train_step` (each trace is one Python call)."""
    calls = []
    step = model.train_step

    def counted(data):
        calls.append(1)
        return step(data)

    model.train_step = counted
    return calls


def reference_state(path):
    """A fixture's state_dict as numpy arrays, ternary-coded weights decoded.

    `gpt_frame_cond.npz` stores its ResNet's conv and linear weights as int8
    `ternary/<name>` with a float `ternary_scale/<name>`; the state_dict entry
    `<name>` is exactly `ternary * scale` (see the fixtures' README).
    """
    with np.load(path) as data:
        state = {k[len("state/"):]: data[k] for k in data.files if k.startswith("state/")}
        for k in data.files:
            if k.startswith("ternary/"):
                name = k[len("ternary/"):]
                scale = data["ternary_scale/" + name]
                state[name] = data[k].astype("float32") * np.float32(scale)
    return state


def run_layer_test(layer_cls, init_kwargs, inputs, expected_output_shape, output_key=None,
                   mixed_precision=True, **call_kwargs):
    """The checks every layer gets (keras-hub's `run_layer_test` idea):

    - an eager call gives `expected_output_shape`;
    - `get_config` -> `from_config` gives a layer with the same config that, with the
      same weights, computes the same output;
    - a symbolic call on `keras.KerasTensor`s infers the same output shape;
    - under the global `mixed_bfloat16` policy (as the training commands set it) the
      variables stay float32 and the output is finite, in bfloat16 or float32 (layers
      that keep statistics in float32 may return it).

    `inputs` is one array or a tuple of arrays (positional inputs); `output_key` picks
    one entry of a dict output.
    """
    import keras

    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    pick = (lambda out: out[output_key]) if output_key else (lambda out: out)

    layer = layer_cls(**init_kwargs)
    out = pick(layer(*inputs, **call_kwargs))
    assert tuple(out.shape) == tuple(expected_output_shape), (out.shape, expected_output_shape)

    config = layer.get_config()
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config
    pick(clone(*inputs, **call_kwargs))  # builds it
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(np.asarray(pick(clone(*inputs, **call_kwargs))),
                               np.asarray(out), atol=1e-5, rtol=1e-5)

    symbolic = tuple(keras.KerasTensor(x.shape, dtype=str(x.dtype)) for x in inputs)
    spec = pick(layer_cls(**init_kwargs)(*symbolic, **call_kwargs))
    assert tuple(spec.shape) == tuple(expected_output_shape), (spec.shape, expected_output_shape)

    if mixed_precision:
        # As the training commands run it: the global policy, which sublayers follow too.
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
        try:
            mixed = layer_cls(**init_kwargs)
            out = pick(mixed(*inputs, **call_kwargs))
        finally:
            keras.mixed_precision.set_global_policy(previous)
        dtypes = {keras.backend.standardize_dtype(v.dtype) for v in mixed.weights}
        assert dtypes <= {"float32", "int32", "int64"}, [(v.path, v.dtype) for v in mixed.weights]
        dtype = keras.backend.standardize_dtype(out.dtype)
        assert dtype in ("bfloat16", "float32", "int32"), dtype
        assert np.isfinite(np.asarray(keras.ops.cast(out, "float32"))).all()
    return layer
