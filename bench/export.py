"""Exported sampler against the in-process one: `python bench/export.py [--batch_size=4]` prints JSON.

For the tiny preset pair (16x64x64 clips, a 4x16x16 latent of 128 codes,
with a random prior head so that sampling is not degenerate):
- in process: the compiled `Sampler`'s first call (tracing included) and its
  steady tokens/s (codes plus decode);
- exported, once as served by any TF Serving build and once with the loop
  marked for XLA (`export_sampler(..., jit_compile=True)`, served with
  `--xla_cpu_compilation_enabled=true`): the export time and size on disk,
  then, in a fresh process that imports TensorFlow only, the load time, the
  first call and the steady tokens/s of the `sample` signature;
- the ratio of each to the in-process rate, and whether they drew the same codes.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def folder_mb(path):
    return round(sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
                     for f in files) / 2**20, 2)


def run_exported(vqvae, prior, b, seed, expected, jit_compile):
    """Exports, then samples in a fresh TF-only process; its figures and whether the codes agree."""
    from keras_videogpt.serving import export_sampler

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        path = export_sampler(vqvae, prior, os.path.join(tmp, "videogpt"),
                              jit_compile=jit_compile)
        export_s = round(time.perf_counter() - start, 2)
        size = folder_mb(path)
        npz = os.path.join(tmp, "out.npz")
        start = time.perf_counter()
        out = subprocess.run([sys.executable, os.path.join(ROOT, "keras_videogpt", "serving",
                                                           "load_and_sample.py"),
                              path, f"--batch_size={b}", "--seed", *map(str, seed),
                              "--repeats=2", f"--out={npz}"], capture_output=True, text=True,
                             check=True, cwd=tmp)
        process = time.perf_counter() - start
        served = json.loads(out.stdout.strip().splitlines()[-1])
        served.update(export_seconds=export_s, saved_model_mb=size,
                      process_seconds_with_tf_import=round(process, 2),
                      same_codes=bool(np.array_equal(np.load(npz)["codes"], expected)))
    return served


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=int, default=4)
    args = parser.parse_args()
    from keras_videogpt import VQVAE, Sampler, VideoGPT

    vqvae = VQVAE.from_preset("tiny")
    vqvae(np.zeros((1,) + vqvae.video_shape, "float32"))
    prior = VideoGPT.from_preset("tiny", vqvae)
    prior.fc_out.kernel.assign(np.random.default_rng(0).normal(
        size=prior.fc_out.kernel.shape) * 0.05)
    b, seed = args.batch_size, [3, 0]
    tokens = b * int(np.prod(prior.latent_shape))

    sampler = Sampler(prior, vqvae)
    start = time.perf_counter()
    sampler.sample(b, seed)
    first = time.perf_counter() - start
    start = time.perf_counter()
    expected = sampler.sample(b, seed)["codes"].numpy()
    steady = time.perf_counter() - start
    result = {"preset": "tiny", "batch_size": b, "tokens": tokens,
              "in_process": {"first_call_seconds": round(first, 2),
                             "call_seconds": round(steady, 2),
                             "tokens_per_second": round(tokens / steady, 1)}}
    for name, jit in (("exported", False), ("exported_xla_loop", True)):
        result[name] = served = run_exported(vqvae, prior, b, seed, expected, jit)
        served["over_in_process_tokens_per_s"] = round(
            served["tokens_per_second"] / result["in_process"]["tokens_per_second"], 2)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
