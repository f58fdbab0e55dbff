"""Training at scale: strategy choice, replica-identical training on 2 logical CPUs, XLA,
steps_per_execution, mixed precision, the NaN stop and the workdir guard."""

import functools
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from conftest import ROOT, TINY_VQVAE
from keras_videogpt import VQVAE, VideoGPT, distribute
from keras_videogpt.callbacks import NonFiniteLossError, StopOnNonFiniteLoss
from keras_videogpt.training import runs

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))


def two_workers(port=12345):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}", f"127.0.0.1:{port + 1}"]},
                       "task": {"type": "worker", "index": 0}})


def test_strategy_choice(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert distribute.strategy_name("auto") == "default"  # no GPU here
    assert distribute.strategy_name("auto", tpu="local") == "tpu"
    assert distribute.strategy_name("mirrored") == "mirrored"
    monkeypatch.setenv("TF_CONFIG", two_workers())
    assert distribute.strategy_name("auto") == "multi_worker"
    assert distribute.strategy_name("default") == "default"  # --strategy forces
    with pytest.raises(ValueError, match="Unknown strategy 'horovod'"):
        distribute.strategy_name("horovod")
    monkeypatch.delenv("TF_CONFIG")
    with pytest.raises(ValueError, match="needs TF_CONFIG"):
        distribute.choose_strategy("multi_worker")
    assert distribute.choose_strategy("auto").num_replicas_in_sync == 1
    assert distribute.is_chief()


def replica_check(kind):
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "replica_check.py"), kind],
                         cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_codebook_init_and_restarts_are_identical_on_both_replicas():
    report = replica_check("vqvae_restarts")
    assert report["initialized"] == 1.0 and report["codebook_moved"] > 0.1
    assert report["replica_spread"] == 0.0
    # The stored codebook is equal on both replicas by construction (its variables take the
    # first replica's value); what the broadcast guarantees is that the rows drawn within a
    # step, from replicas that hold other vectors, are replica 0's everywhere.
    assert report["random_rows"] == {"identical": True, "from_replica_0": True, "rows": 64}


@pytest.mark.parametrize("kind", ["vqvae", "prior"])
def test_mirrored_replicas_stay_identical_and_match_one_device(kind):
    report = replica_check(kind)
    assert report["replicas"] == 2 and report["copies"] == 2
    # Every variable (weights, BatchNorm statistics, EMA codebook state) is bit-identical
    # on both replicas ...
    assert report["replica_spread"] == 0.0
    # ... and equal to one device on the same global batches, to float rounding.
    assert report["largest_update"] > 1e-3
    assert report["single_vs_mirrored"] < 1e-5 + 1e-5 * report["largest_update"]
    assert report["loss_mirrored"] == pytest.approx(report["loss_single"], rel=1e-5)


def tiny_pair():
    vqvae = VQVAE(**TINY_VQVAE)
    prior = VideoGPT.from_vqvae(vqvae, hidden_dim=24, num_heads=2, num_layers=1)
    return vqvae, prior


def fit_both(jit_compile=False, steps_per_execution=1, epochs=2):
    rng = np.random.default_rng(0)
    video = rng.uniform(-0.5, 0.5, (8, 4, 16, 16, 3)).astype("float32")
    codes = rng.integers(0, 16, (8, 2, 8, 8)).astype("int32")
    keras.utils.set_random_seed(0)
    vqvae, prior = tiny_pair()
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    prior.compile(optimizer=prior.default_optimizer(10, 1e-3), jit_compile=jit_compile,
                  steps_per_execution=steps_per_execution)
    hv = vqvae.fit(video, batch_size=4, epochs=epochs, verbose=0, shuffle=False).history
    hp = prior.fit(codes, batch_size=4, epochs=epochs, verbose=0, shuffle=False).history
    return vqvae, prior, hv["loss"], hp["loss"]


@functools.lru_cache(maxsize=1)
def float32_losses():
    """The losses of `fit_both()` with the defaults, computed once for the tests that compare."""
    _, _, vq, prior = fit_both()
    return tuple(vq), tuple(prior)


@pytest.mark.slow
def test_train_steps_compile_with_xla_on_cpu():
    vq_eager, prior_eager = float32_losses()
    vqvae, prior, vq_xla, prior_xla = fit_both(jit_compile=True)
    assert vqvae.jit_compile and prior.jit_compile
    assert all(math.isfinite(v) for v in vq_xla + prior_xla)
    # Same data, same initial weights. The prior differs only in rounding; the VQ-VAE's
    # data-dependent codebook init draws random rows, and TF's stateless RNG picks another
    # algorithm under XLA, so its losses agree to ~1%.
    np.testing.assert_allclose(vq_xla, vq_eager, rtol=2e-2)
    np.testing.assert_allclose(prior_xla, prior_eager, rtol=1e-3)


def test_steps_per_execution():
    vqvae, prior, vq_losses, prior_losses = fit_both(steps_per_execution=2)
    assert int(vqvae.optimizer.iterations.numpy()) == 4  # 2 epochs x 2 batches
    assert int(prior.optimizer.iterations.numpy()) == 4
    vq_one, prior_one = float32_losses()
    np.testing.assert_allclose(vq_losses, vq_one, rtol=1e-5)
    np.testing.assert_allclose(prior_losses, prior_one, rtol=1e-5)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_losses_are_finite_and_close_to_float32(policy):
    vq32, prior32 = float32_losses()
    try:
        keras.mixed_precision.set_global_policy(policy)
        vqvae, prior, vq_mixed, prior_mixed = fit_both()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert vqvae.compute_dtype == policy.split("_")[1]
    # Codebook state and distances stay float32; logits and losses too.
    assert vqvae.quantizer.embeddings.dtype == "float32"
    assert all(math.isfinite(v) for v in vq_mixed + prior_mixed)
    np.testing.assert_allclose(vq_mixed, vq32, rtol=0.1)
    np.testing.assert_allclose(prior_mixed, prior32, rtol=0.01)
    if policy == "mixed_float16":
        assert isinstance(vqvae.optimizer, keras.optimizers.LossScaleOptimizer)


def test_nan_loss_stops_before_any_checkpoint_of_it(tmp_path):
    video = np.random.default_rng(0).uniform(-0.5, 0.5, (8, 4, 16, 16, 3)).astype("float32")
    video[6] = np.nan  # the second epoch's second batch
    vqvae = VQVAE(**TINY_VQVAE)
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    callbacks = runs.fit_callbacks(str(tmp_path), "vqvae.keras")
    assert isinstance(callbacks[0], StopOnNonFiniteLoss)
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices(video).batch(2)
    first = ds.take(2)  # finite: one good epoch is checkpointed
    vqvae.fit(first, epochs=1, verbose=0, callbacks=callbacks)
    good = keras.models.load_model(tmp_path / "vqvae.keras", compile=False)
    # The run goes on (resuming after epoch 1 from its backup) and meets the NaN batch.
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at epoch 2, batch 4.*"
                                                 r"lower the learning rate"):
        vqvae.fit(ds, epochs=2, verbose=0, callbacks=runs.fit_callbacks(str(tmp_path),
                                                                          "vqvae.keras"))
    kept = keras.models.load_model(tmp_path / "vqvae.keras", compile=False)
    for a, b in zip(good.get_weights(), kept.get_weights()):
        assert np.isfinite(b).all()
        np.testing.assert_array_equal(a, b)


def test_workdir_of_another_model_is_refused(tmp_path):
    config = VideoGPT.from_vqvae(VQVAE(**TINY_VQVAE), hidden_dim=24, num_heads=2,
                                 num_layers=1).get_config()
    runs.check_workdir(str(tmp_path), config)
    saved_a_backup(tmp_path)
    runs.check_workdir(str(tmp_path), config)  # the same model resumes
    with pytest.raises(ValueError, match=r"holds a run of another model.*\['num_layers'\]"):
        runs.check_workdir(str(tmp_path), dict(config, num_layers=2))


def saved_a_backup(workdir, epoch=1):
    """What the first run's backup leaves behind once an epoch has finished."""
    (workdir / "backup").mkdir(exist_ok=True)
    (workdir / "backup" / "training_metadata.json").write_text(json.dumps({"epoch": epoch}))


def test_a_resumed_run_computes_what_an_uninterrupted_one_does(tmp_path):
    """Weights, optimizer, EMA codebook, random state and data position all come back."""
    import tensorflow as tf

    from keras_videogpt.callbacks import seed_states

    clips = np.random.default_rng(0).uniform(-0.5, 0.5, (12, 4, 16, 16, 3)).astype("float32")

    def train(workdir, epochs, steps=2):
        keras.utils.set_random_seed(0)
        model = VQVAE(**TINY_VQVAE)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        ds = tf.data.Dataset.from_tensor_slices(clips).shuffle(12, seed=0).repeat().batch(
            2, drop_remainder=True)
        ds = ds.skip(runs.resume_batches(workdir, steps))
        model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0,
                  callbacks=runs.fit_callbacks(workdir, "vqvae.keras"))
        return model

    assert runs.resume_batches(str(tmp_path / "b"), 2) == 0  # nothing to resume yet
    whole = train(str(tmp_path / "a"), epochs=3)
    train(str(tmp_path / "b"), epochs=1)  # stopped after its first epoch...
    assert runs.resume_batches(str(tmp_path / "b"), 2) == 2
    resumed = train(str(tmp_path / "b"), epochs=3)  # ...and run again
    assert int(resumed.optimizer.iterations.numpy()) == 6
    for a, b in zip(seed_states(whole), seed_states(resumed)):
        assert a.numpy()[1] > 0  # the codebook drew random numbers
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(whole.weights + whole.optimizer.variables,
                    resumed.weights + resumed.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def test_changed_data_settings_warn_on_resume(tmp_path, caplog):
    config = VQVAE(**TINY_VQVAE).get_config()
    runs.check_workdir(str(tmp_path), config, {"batch_size": 4})
    saved_a_backup(tmp_path)
    runs.check_workdir(str(tmp_path), config, {"batch_size": 4})
    assert "data settings differ" not in caplog.text
    runs.check_workdir(str(tmp_path), config, {"batch_size": 8})
    assert "data settings differ" in caplog.text


def free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_with_multi_worker_mirrored_strategy(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workdir = tmp_path / "run"
    procs = []
    for index in range(2):
        scratch = tmp_path / f"tmp{index}"
        scratch.mkdir()
        env = dict(ENV, TMPDIR=str(scratch), TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"worker{index}.log", "w")
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "train.vqvae", "--preset=tiny", f"--workdir={workdir}",
             "--epochs=2", "--steps_per_epoch=2", "--batch_size=4", "--num_videos=16",
             "--eval_clips=2", "--learning_rate=1e-3"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=900) for p in procs]
    finally:
        for p in procs:
            p.kill()
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in range(2)]
    assert codes == [0, 0], "\n\n".join(log[-3000:] for log in logs)
    # The chief (worker 0) wrote the run; worker 1 wrote only to its temporary folder.
    chief = workdir / "vqvae.keras"
    other = (tmp_path / "tmp1" / "keras_videogpt_workers" / "worker_1" / "run"
             / "vqvae.keras")
    assert chief.exists() and (workdir / "backup").exists() and other.exists()
    assert not (tmp_path / "tmp0" / "keras_videogpt_workers").exists()
    a = keras.models.load_model(chief, compile=False)
    b = keras.models.load_model(other, compile=False)
    fresh = VQVAE.from_preset("tiny", seed=0)
    fresh(np.zeros((1,) + fresh.video_shape, "float32"))
    moved = False
    for wa, wb, w0 in zip(a.get_weights(), b.get_weights(), fresh.get_weights()):
        assert np.isfinite(wa).all()
        np.testing.assert_array_equal(wa, wb)  # both workers hold the same model
        moved |= wa.shape == w0.shape and not np.allclose(wa, w0)
    assert moved  # and it trained
