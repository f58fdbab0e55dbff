"""The benchmark scripts start and parse their flags (they are run by hand, never by CI)."""

import glob
import json
import os
import subprocess
import sys

import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench")
SCRIPTS = sorted(p for p in glob.glob(os.path.join(BENCH, "*.py"))
                 if os.path.basename(p) != "common.py")


def run(script, *args):
    return subprocess.run([sys.executable, os.path.join(BENCH, script), *args],
                          capture_output=True, text=True, timeout=300)


def test_there_is_a_benchmark_per_stage():
    names = {os.path.basename(p) for p in SCRIPTS}
    assert {"vqvae.py", "prior.py", "fvd.py", "compare.py", "export.py"} <= names


@pytest.mark.parametrize("script", [os.path.basename(p) for p in SCRIPTS])
def test_help(script):
    out = run(script, "--help")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "usage:" in out.stdout


@pytest.mark.parametrize("script, args, message", [
    ("compare.py", ["--rounds=0"], "--rounds must be at least 1"),
    ("compare.py", ["--configs=huge"], "unknown config 'huge'"),
    ("scale.py", ["--presets=huge"], "unknown preset 'huge'"),
    ("scale.py", ["--variants=fp8"], "unknown variant 'fp8'"),
    ("quantizers.py", ["--clips=0"], "must be >= 1"),
    ("quantizers.py", ["--preset=bair"], "invalid choice: 'bair'"),
    ("temporal_padding.py", ["--steps=0"], "must be >= 1"),
    ("convs.py", ["--convs=huge"], "unknown conv group 'huge'"),
    ("bandwidth.py", ["--breakdown", "--attn_type=sparse"],
     "--breakdown fits the full attention's segments"),
    ("paired.py", ["--stages=fly"], "unknown stage 'fly'"),
    ("paired.py", ["--configs=huge"], "unknown config 'huge'"),
    ("paired.py", ["--pairs=0"], "--pairs and --repeats must be at least 1"),
    ("paired.py", [], "pass --ref_python and --ref_videogpt"),
])
def test_bad_flags_are_named(script, args, message):
    out = run(script, *args)
    assert out.returncode == 2 and message in out.stderr


def test_stdout_is_one_json_document(capsys):
    # `python bench/x.py > x.json` must give valid JSON: progress lines go to stderr.
    sys.path.insert(0, BENCH)
    try:
        import common
    finally:
        sys.path.remove(BENCH)
    from keras_videogpt.layers import conv_tuner

    common.progress(8, 96.9, "s")
    common.emit({"batches": {"8": {"tokens_per_s": 338.3}}})
    out = capsys.readouterr()
    # Where the library's convs ran, the document says how they chose their forms (the
    # suite keeps the fixed rule: conftest sets KERAS_VIDEOGPT_CONV_TUNING=0).
    assert json.loads(out.out) == {"batches": {"8": {"tokens_per_s": 338.3}},
                                   "conv_forms": "fixed rule",
                                   "conv_shapes_tuned": len(conv_tuner.choices())}
    assert out.err == "8 96.9 s\n"
