"""Full, sparse and causal axial attention in the prior, side by side: `python bench/attention.py`.

For each attention type and latent, in a fresh process (so that peak memory
is that configuration's own, and an out-of-memory kill is a result, not a
crash of the benchmark):

- the median train-step time at batch 1 and the process's peak RSS;
- the cached sampler's tokens/s (XLA) over the first `--sample_tokens`
  positions, after compiling.

The prior is the reference bench's bair prior (hidden 576, 4 heads, 8 layers,
no conditioning, 1024 codes of 256 dims), on the bair latent 4x32x32 and a
long latent 8x32x32. `--gradient_checkpointing` recomputes each block in the
backward pass. Prints one JSON document; `--latents=4,32,32` picks latents,
`--types=axial,full` the attention types.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import common

HERE = os.path.abspath(__file__)


def one(attn_type, latent, steps, sample_tokens, checkpointing):
    """Runs in the child process: builds the prior, times it, prints its JSON."""
    import numpy as np
    import tensorflow as tf
    from keras_videogpt import Sampler, VideoGPT, sampling

    prior = VideoGPT(latent_shape=latent, n_codes=1024, embedding_dim=256, hidden_dim=576,
                     num_heads=4, num_layers=8, dropout=0.2, attn_dropout=0.3, attn_type=attn_type,
                     gradient_checkpointing=checkpointing)
    rng = np.random.default_rng(0)
    prior.fc_out.kernel.assign(rng.normal(size=prior.fc_out.kernel.shape) * 0.05)
    prior.compile(optimizer=VideoGPT.default_optimizer(1000))
    prior.optimizer.build(prior.trainable_variables)
    codes = tf.constant(rng.integers(0, 1024, (1,) + latent).astype("int32"))
    step = tf.function(prior.train_step)
    out = {"attn_type": attn_type, "latent": list(latent), "gradient_checkpointing": checkpointing,
           "train_step_ms_batch1": common.time_ms(lambda: step({"codes": codes}), steps),
           "train_peak_rss_mb": common.peak_rss_mb()}
    sampler = Sampler(prior)
    seeds = sampling.seed_rows(0, 1)
    controls = (tf.constant(1.0), tf.constant(0), tf.constant(1.0))
    prev, drawn, caches, cross = sampler.start(1, None, None)
    args = (cross, seeds, *controls, None)
    prev, drawn, caches = sampler.decode_positions(tf.constant(0), tf.constant(2), prev, drawn, caches,
                                         *args)  # compile
    start = time.perf_counter()
    prev, drawn, caches = sampler.decode_positions(tf.constant(2), tf.constant(2 + sample_tokens), prev,
                                         drawn, caches, *args)
    drawn.numpy()
    out["sampling_tokens_per_s_batch1"] = round(sample_tokens / (time.perf_counter() - start), 1)
    out["sampled_tokens"] = sample_tokens
    out["peak_rss_mb"] = common.peak_rss_mb()
    print("RESULT " + json.dumps(out), flush=True)


def run(attn_type, latent, steps, sample_tokens, checkpointing, timeout):
    cmd = [sys.executable, HERE, "--one", attn_type, "--latents", ",".join(map(str, latent)),
           "--steps", str(steps), "--sample_tokens", str(sample_tokens)]
    if checkpointing:
        cmd.append("--gradient_checkpointing")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    if proc.returncode == 0 and lines:
        result = json.loads(lines[-1][len("RESULT "):])
    else:
        tail = (proc.stderr.strip().splitlines() or [""])[-1]
        killed = proc.returncode < 0 or proc.returncode == 137
        result = {"attn_type": attn_type, "latent": list(latent),
                  "gradient_checkpointing": checkpointing,
                  "failed": "killed (out of memory?)" if killed else f"exit {proc.returncode}",
                  "last_error_line": tail[-300:]}
    result["wall_s"] = round(time.perf_counter() - start, 1)
    return result


def compare(types=("axial", "sparse", "full"), latents=((4, 32, 32), (8, 32, 32)), steps=2,
            sample_tokens=512, checkpointing=False, timeout=3600):
    """Each attention type on each latent, one process each; returns the JSON document."""
    results = []
    for latent in latents:
        for attn_type in types:
            results.append(run(attn_type, latent, steps, sample_tokens, checkpointing, timeout))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    return {"device": "cpu", "prior": "hidden 576, 4 heads, 8 layers, batch 1",
            "results": results}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--types", default="axial,sparse,full")
    parser.add_argument("--latents", default="4,32,32;8,32,32")
    parser.add_argument("--steps", type=int, default=2, help="timed train steps (median)")
    parser.add_argument("--sample_tokens", type=int, default=512)
    parser.add_argument("--gradient_checkpointing", action="store_true")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    latents = [tuple(int(x) for x in l.split(",")) for l in args.latents.split(";")]
    if args.one:
        one(args.one, latents[0], args.steps, args.sample_tokens, args.gradient_checkpointing)
        return
    common.emit(compare(args.types.split(","), latents, args.steps, args.sample_tokens,
                        args.gradient_checkpointing, args.timeout))


if __name__ == "__main__":
    main()
