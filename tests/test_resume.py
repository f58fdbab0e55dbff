"""Resuming never loses or overwrites work: atomic backups, damaged backups refused, changed
flags honoured or refused, a trained model never silently overwritten."""

import json
import os

import keras
import numpy as np
import pytest
from absl import logging as absl_logging

from keras_videogpt.callbacks import BackupError, BackupRandomState, RunBackup
from keras_videogpt.training import runs


def small_model(learning_rate=1e-3):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")


@pytest.fixture
def logged(monkeypatch):
    """Messages of absl.logging.info (caplog misses them once absl's handler is installed)."""
    messages = []
    monkeypatch.setattr(absl_logging, "info", lambda msg, *args: messages.append(msg % args))
    return messages


def fit(model, backup, epochs=2):
    x, y = data()
    return model.fit(x, y, batch_size=8, epochs=epochs, verbose=0,
                     callbacks=[RunBackup(str(backup)), BackupRandomState(str(backup))])


def test_backup_resumes_and_a_changed_learning_rate_takes_effect(tmp_path, logged):
    backup = tmp_path / "backup"
    first = small_model(1e-3)
    fit(first, backup, epochs=2)
    assert json.loads((backup / "training_metadata.json").read_text())["epoch"] == 2
    assert not list(backup.glob("*.partial*"))  # temporary files were renamed away

    resumed = small_model(1e-4)  # the user lowered the rate after, say, a NaN stop
    history = fit(resumed, backup, epochs=3)
    assert len(history.history["loss"]) == 1  # epochs 1-2 were restored, epoch 3 ran
    assert float(resumed.optimizer.learning_rate.numpy()) == pytest.approx(1e-4)
    assert "Resuming with learning rate 0.0001 (the backup had 0.001)." in logged
    np.testing.assert_equal(int(resumed.optimizer.iterations.numpy()), 6)


def test_a_kill_while_writing_leaves_the_last_complete_backup(tmp_path):
    backup = tmp_path / "backup"
    model = small_model()
    fit(model, backup, epochs=1)
    saved = [w.copy() for w in model.get_weights()]

    class Killed(Exception):
        pass

    def dies_midway(path, overwrite=True):
        with open(path, "wb") as f:
            f.write(b"\x89HDF\r\n")  # a few bytes, then the process is gone
        raise Killed

    model.save_weights = dies_midway
    with pytest.raises(Killed):
        fit(model, backup, epochs=2)
    fresh = small_model()
    fit(fresh, backup, epochs=1)  # epoch 1 is restored, nothing trains
    for a, b in zip(fresh.get_weights(), saved):
        np.testing.assert_array_equal(a, b)


def test_metadata_without_weights_stops_the_run_naming_the_file(tmp_path):
    backup = tmp_path / "backup"
    fit(small_model(), backup, epochs=1)
    os.remove(backup / "latest.weights.h5")
    with pytest.raises(BackupError, match=r"incomplete: .*training_metadata.json' records epoch "
                                          r"1, but its weights .*latest.weights.h5' are missing"):
        fit(small_model(), backup, epochs=2)


def test_truncated_weights_stop_the_run_naming_the_file(tmp_path):
    backup = tmp_path / "backup"
    fit(small_model(), backup, epochs=1)
    path = backup / "latest.weights.h5"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(BackupError, match=r"latest.weights.h5' cannot be read.*--restart"):
        fit(small_model(), backup, epochs=2)


@pytest.mark.parametrize("name", ["training_metadata.json", "random_state.json"])
def test_damaged_backup_json_is_named(tmp_path, name):
    backup = tmp_path / "backup"
    fit(small_model(), backup, epochs=1)
    (backup / name).write_text("{not json")
    with pytest.raises(BackupError, match=f"'{backup / name}' is damaged"):
        fit(small_model(), backup, epochs=2)


def test_a_trained_model_without_a_backup_is_not_overwritten(tmp_path):
    (tmp_path / "vqvae.keras").write_bytes(b"trained")
    with pytest.raises(FileExistsError, match="holds a trained model.*Pass --restart"):
        runs.prepare_workdir(str(tmp_path), "vqvae.keras")
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 3}')
    runs.prepare_workdir(str(tmp_path), "vqvae.keras")  # a backup to resume from: fine
    (tmp_path / "run.json").write_text("{}")
    runs.prepare_workdir(str(tmp_path), "vqvae.keras", restart=True)
    assert not (tmp_path / "backup").exists() and not (tmp_path / "run.json").exists()


@pytest.mark.parametrize("name, value", [("batch_size", 0), ("epochs", 0),
                                         ("steps_per_epoch", 0), ("batch_size", 2.7),
                                         ("steps_per_epoch", -1)])
def test_schedule_flags_must_be_whole_and_positive(name, value):
    args = dict(dict(batch_size=8, epochs=2, steps_per_epoch=5), **{name: value})
    with pytest.raises(ValueError, match=f"--{name} must be a whole number >= 1; got {value}"):
        runs.check_schedule(**args)


def test_resumed_run_logs_changed_flags_and_refuses_a_precision_change(tmp_path, logged):
    workdir = str(tmp_path)
    train = dict(learning_rate=1e-3, epochs=4, steps_per_epoch=10, mixed_precision="float32")
    runs.check_workdir(workdir, {"a": 1}, {"seed": 0}, train)
    # No backup yet: a failed first run does not bind the corrected rerun.
    runs.check_workdir(workdir, {"a": 2}, {"seed": 0}, train)
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    with pytest.raises(ValueError, match="holds a run of another model"):
        runs.check_workdir(workdir, {"a": 1}, {"seed": 0}, train)
    runs.check_workdir(workdir, {"a": 2}, {"seed": 0}, dict(train, learning_rate=1e-4,
                                                               epochs=8))
    assert "Resuming with --learning_rate=0.0001 (the run had 0.001)." in logged
    assert "Resuming with --epochs=8 (the run had 4)." in logged
    with pytest.raises(ValueError, match="--mixed_precision was float32 .* cannot change mid-run"):
        runs.check_workdir(workdir, {"a": 2}, {"seed": 0},
                             dict(train, mixed_precision="mixed_float16"))


def test_a_run_that_predates_a_new_config_key_resumes_at_its_default(tmp_path):
    workdir = str(tmp_path)
    train = dict(learning_rate=1e-3, epochs=4, steps_per_epoch=10, mixed_precision="float32")
    runs.check_workdir(workdir, {"a": 1}, {"seed": 0}, train)
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "training_metadata.json").write_text('{"epoch": 1}')
    defaults = {"a": 0, "new": 0.0}
    runs.check_workdir(workdir, {"a": 1, "new": 0.0}, {"seed": 0}, train, defaults=defaults)
    with pytest.raises(ValueError, match=r"differs in \['new'\]"):
        runs.check_workdir(workdir, {"a": 1, "new": 0.5}, {"seed": 0}, train, defaults=defaults)


def test_init_defaults_reads_the_constructor():
    from keras_videogpt import VideoGPT
    defaults = runs.init_defaults(VideoGPT)
    assert defaults["label_dropout"] == 0.0 and defaults["num_layers"] == 8


def test_an_evaluation_report_is_written_whole_and_checked_first(tmp_path):
    report = tmp_path / "eval.json"
    report.write_text(json.dumps({"fvd": 123.0, "prior": "old.keras"}))
    runs.check_report_path(str(report))  # an old report may be replaced...
    runs.write_report(str(report), {"rfvd": 4.5, "prior": None})
    assert json.loads(report.read_text()) == {"rfvd": 4.5, "prior": None}  # ...not merged
    other = tmp_path / "notes.txt"
    other.write_text("my notes")
    with pytest.raises(ValueError, match="exists and is not a JSON report"):
        runs.check_report_path(str(other))
    with pytest.raises(ValueError, match="is a folder"):
        runs.check_report_path(str(tmp_path))


def test_a_resumed_stage_reports_its_whole_wall_time(tmp_path):
    path = str(tmp_path / "stage_seconds.json")
    runs.add_seconds(path, {"vqvae": 100.0, "codes": 5.0})
    runs.add_seconds(path, {"prior": 60.0})          # a first session of the prior, stopped
    totals = runs.add_seconds(path, {"prior": 40.04})  # and the session that finished it
    assert totals == {"vqvae": 100.0, "codes": 5.0, "prior": 100.0}
    assert json.loads(open(path).read()) == totals


def test_evaluate_refuses_a_non_json_out_before_any_work(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    out = subprocess.run([sys.executable, "-m", "train.evaluate", f"--out={notes}",
                          f"--vqvae={tmp_path}/missing.keras"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT)))
    assert out.returncode != 0 and "is not a JSON report" in out.stderr  # not "No VQVAE"
    assert "Traceback" not in out.stderr and notes.read_text() == "my notes"


def test_zero_steps_per_epoch_is_refused_by_the_command(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "train.vqvae", "--steps_per_epoch=0",
                          f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT)))
    assert out.returncode != 0 and "--steps_per_epoch must be a whole number >= 1; got 0" in (
        out.stderr)
    assert "Traceback" not in out.stderr
