"""The convs' form tuning: picks the fastest form by timing, keeps it, and changes no value."""

import json

import numpy as np
import pytest
import tensorflow as tf

from keras_videogpt.layers import conv_tuner, winograd
from keras_videogpt.layers.conv import SamePadConv3D, SamePadConv3DTranspose
from keras_videogpt.layers.xla_island import no_islands


@pytest.fixture
def tuning(tmp_path, monkeypatch):
    """Tuning on (even for small convs), with its file in a temporary folder."""
    path = tmp_path / "forms.json"
    monkeypatch.setenv("KERAS_VIDEOGPT_CONV_FORMS", str(path))
    conv_tuner.clear()
    conv_tuner.set_tuning(True)
    yield path
    conv_tuner.set_tuning(False)
    conv_tuner.clear()


def fake_timer(monkeypatch, seconds):
    """`time_forms` returns `seconds[name]` for each form offered, and logs the calls."""
    calls = []

    def time_forms(forms, x_shape, kernel_shape, dtype=tf.float32, gradients=()):
        calls.append((sorted(forms), x_shape, gradients))
        return {name: seconds[name] for name in forms}

    monkeypatch.setattr(conv_tuner, "time_forms", time_forms)
    return calls


def test_the_fastest_form_is_taken_once_per_shape_and_kept_in_the_file(tuning, monkeypatch):
    calls = fake_timer(monkeypatch, {"shared": 3.0, "transpose": 1.0, "phases_winograd": 2.0,
                                     "phases_winograd_tf": 2.5, "shared_gemm": 4.0})
    up = SamePadConv3DTranspose(40, 4, strides=2)
    x = tf.random.uniform((3, 2, 4, 4, 40))
    for _ in range(2):
        up(x)
    # Inference: timed once, at the timing batch, on the forms that apply.
    assert calls == [(["phases_winograd", "phases_winograd_tf", "shared", "shared_gemm",
                       "transpose"],
                      (2, 2, 4, 4, 40), ())]
    ((key, (form, seconds)),) = conv_tuner.choices().items()
    assert form == "transpose" and seconds["shared"] == 3.0
    up(x, training=True)
    assert [c[2] for c in calls] == [(), ("input", "kernel")]  # training is its own choice
    up(tf.random.uniform((5, 2, 4, 4, 40)))
    assert len(calls) == 2  # any batch of TIMING_BATCH clips or more takes the same choice
    saved = json.loads(tuning.read_text())
    assert sorted(saved.values()) == ["transpose", "transpose"]

    # A new process on this machine reads the file instead of timing again.
    conv_tuner.clear()
    monkeypatch.setattr(conv_tuner, "time_forms", lambda *a, **k: pytest.fail("timed again"))
    up(x)
    assert next(iter(conv_tuner.choices().values()))[0] == "transpose"


def test_winograd_forms_are_not_timed_for_narrow_convs(tuning, monkeypatch):
    calls = fake_timer(monkeypatch, {"direct": 1.0, "winograd": 0.5, "winograd_xla": 0.7,
                                     "gemm": 0.8})
    conv = SamePadConv3D(8, 3)
    conv(tf.random.uniform((1, 4, 8, 8, 8)))
    # Narrow: no Winograd, but one matrix product (27 taps x 8 channels a position).
    assert calls[0][0] == ["direct", "gemm"]
    wide = SamePadConv3D(32, 3)
    wide(tf.random.uniform((1, 4, 8, 8, 32)))
    # Wide: Winograd, and no matrix product (27 x 32 floats a position is too wide).
    assert calls[1][0] == ["direct", "winograd", "winograd_xla"]
    assert [form for form, _ in conv_tuner.choices().values()] == ["gemm", "winograd"]


def test_tuning_keeps_out_where_it_must(tuning, monkeypatch):
    calls = fake_timer(monkeypatch, {"direct": 2.0, "winograd": 1.0, "winograd_xla": 1.5})
    x = tf.random.uniform((1, 4, 8, 8, 32))
    conv = SamePadConv3D(32, 3)
    with no_islands():  # exported graphs: the fixed rule, stock TF ops
        conv(x)
    winograd.set_winograd(False)
    try:
        conv(x)
    finally:
        winograd.set_winograd(None)
    conv_tuner.set_tuning(False)
    conv(x)
    conv_tuner.set_tuning(None)
    conv(x)  # by default, only convs of MIN_FLOPS or more
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        conv_tuner.set_tuning(True)
        conv(x)
    assert calls == []
    conv(x)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="None, True or False"):
        conv_tuner.set_tuning("on")


@pytest.mark.parametrize("layer, shape", [
    (lambda: SamePadConv3D(32, 4, strides=2), (2, 4, 8, 8, 32)),
    (lambda: SamePadConv3D(32, 3), (2, 4, 8, 8, 32)),
    (lambda: SamePadConv3DTranspose(3, 4, strides=(2, 1, 1)), (2, 2, 8, 8, 32)),
    (lambda: SamePadConv3DTranspose(32, 4, strides=2), (2, 2, 4, 4, 32)),
])
def test_the_timed_choice_gives_the_fixed_rules_values_and_gradients(tuning, layer, shape):
    conv = layer()
    x = tf.random.stateless_uniform(shape, (5, 6), -1, 1)

    def run(training):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.function(lambda x: conv(x, training=training))(x)
            loss = tf.reduce_sum(y * y)
        return [y.numpy()] + [g.numpy() for g in tape.gradient(loss, [x, conv.kernel])]

    tuned = run(True) + run(False)[:1]
    assert len(conv_tuner.choices()) == 2  # really timed, in training and at inference
    for key, (form, seconds) in conv_tuner.choices().items():
        assert seconds[form] == min(seconds.values()) and len(seconds) >= 2
    conv_tuner.set_tuning(False)
    fixed = run(True) + run(False)[:1]
    for a, b in zip(tuned, fixed):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * np.abs(b).max())


def test_training_times_the_gradients_that_the_step_takes(tuning, monkeypatch):
    calls = fake_timer(monkeypatch, {"direct": 2.0, "winograd": 1.0, "winograd_xla": 1.5})
    conv = SamePadConv3D(32, 3)
    x = tf.random.uniform((1, 4, 8, 8, 32))
    with tf.GradientTape():  # x is data, as for a model's first conv: no input gradient
        conv(x, training=True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        conv(x, training=True)
    conv(x, training=True)  # no tape to ask: both, as a step might take them
    conv(x, training=True)
    assert [c[2] for c in calls] == [("kernel",), ("input", "kernel")]
    assert conv_tuner.gradients_timed(x, False) == ()


def test_time_forms_times_each_form_and_drops_the_slow_ones_early(monkeypatch):
    import time

    monkeypatch.setattr(conv_tuner, "REPEATS", 4)
    runs = {"fast": 0, "slow": 0, "far": 0}

    def form(name, delay):
        def wait():
            runs[name] += 1
            time.sleep(delay)
            return np.float32(0)

        def fn(x, k):
            return tf.py_function(wait, [], tf.float32) + x[0, 0, 0, 0, 0] * k[0, 0, 0, 0, 0]

        return fn

    seconds = conv_tuner.time_forms(
        {"fast": form("fast", 0.01), "slow": form("slow", 0.02), "far": form("far", 0.2)},
        (1, 1, 1, 1, 1), (1, 1, 1, 1, 1), gradients=("kernel",))
    assert seconds["fast"] < 0.02 <= seconds["slow"] < 0.2 <= seconds["far"]
    # A compiling call and a probe each; the form 20x slower than the fastest is not called
    # again, the one 2x slower is dropped after two of the REPEATS timed rounds.
    assert runs == {"fast": 2 + 4, "slow": 2 + 2, "far": 2}
