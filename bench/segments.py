"""What the sampler's segments cost and gain: `python bench/segments.py`.

Full attention samples in segments (`keras_videogpt.sampling.SEGMENTS`), each
a compiled loop that reads the cache only up to its own end. More segments
read less of the cache per step but compile longer. For each count in
`--segments`, in a fresh process, this script builds the ref-tiny prior
(hidden 192, 4 heads, 4 layers, full attention, a 4x16x16 latent of 512
codes, random weights) and times the first call of `sample_codes` (tracing
and XLA compilation included) and the median of 3 later calls at batch 1.

Prints one JSON document.
"""

import argparse
import json
import subprocess
import sys
import time

import common


def one(segments):
    import numpy as np

    from keras_videogpt import Sampler, VideoGPT

    prior = VideoGPT(latent_shape=(4, 16, 16), n_codes=512, embedding_dim=64, hidden_dim=192,
                     num_heads=4, num_layers=4, dropout=0.0, attn_dropout=0.0)
    prior.fc_out.kernel.assign(np.random.default_rng(0).normal(
        size=prior.fc_out.kernel.shape).astype("float32") * 0.05)
    sampler = Sampler(prior, segments=segments)
    start = time.perf_counter()
    sampler.sample_codes(1, seed=0).numpy()
    first = time.perf_counter() - start
    later = common.time_ms(lambda: sampler.sample_codes(1, seed=1).numpy(), repeats=3) / 1e3
    return {"segments": len(sampler.segment_ends), "first_call_s": round(first, 2),
            "tokens_per_s": round(sampler.length / later, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", default="1,4,8")
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print("ONE " + json.dumps(one(args.one)), flush=True)
        return
    rows = []
    for count in (int(c) for c in args.segments.split(",")):
        proc = subprocess.run([sys.executable, __file__, f"--one={count}"], capture_output=True,
                              text=True)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("ONE ")]
        if proc.returncode or not lines:
            raise RuntimeError(f"segments={count} failed: {proc.stderr[-2000:]}")
        rows.append(json.loads(lines[-1][4:]))
        common.progress(rows[-1])
    common.emit({"prior": "ref-tiny: hidden 192, 4 heads, 4 layers, full attention, 4x16x16",
                 "batch": 1, "runs": rows})


if __name__ == "__main__":
    main()
