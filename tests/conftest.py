"""Shared test helpers: locating ../shared fixtures, tiny configs, seeding."""

import os
import pathlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

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
