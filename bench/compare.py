"""Our speed against the PyTorch reference, on its bench's configs: `python bench/compare.py`.

The configs are `../shared/reference-bench/ref_bench.py`'s, not our presets
of the same names, so they are called `ref-tiny` and `ref-bair-full` here:

- ref-tiny: VQ-VAE with 64 hiddens, 2 residual layers, 64-d codes, 512 codes,
  downsample 4x4x4; prior with hidden 192, 4 heads, 4 layers; batch 4.
- ref-bair-full: VQ-VAE with 240 hiddens, 4 residual layers, 256-d codes,
  1024 codes, downsample 4x2x2; prior with hidden 576, 4 heads, 8 layers;
  batch 1.

Both: 16x64x64 clips, full attention, dropout 0.2 and attention dropout 0.3
in training, random weights, median after warm-up. The figures:
`vqvae_train_step_s`, `vqvae_encode_s_per_video`, `vqvae_decode_s_per_video`,
`prior_train_step_s` and `sample_tokens_per_s` (one video at batch 1, with
our compiled XLA sampler, decode included, as the reference's `sample(1)`).

With the reference set up (see `../shared/reference-bench/README.md`), pass
`--ref_python=VENV/bin/python --ref_videogpt=CHECKOUT`: the reference runs
first, then ours, one after the other (never at once: two processes on two
cores slow each other down many times), and the JSON holds both columns and
`speedup` (reference time / our time; ours / reference for tokens/s).
Without it, our column alone. `--configs=tiny` or `bair` picks one.

This machine's figures move by up to 1.5x between runs on both sides, so
`--rounds=N` alternates the two sides N times (reference, ours, reference,
...): each column is the median over rounds, `speedup` is the ratio of the
medians, and `speedup_per_round` lists each round's own ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common

HERE = os.path.dirname(os.path.abspath(__file__))
REF_BENCH = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "reference-bench",
                         "ref_bench.py")
CONFIGS = {
    "tiny": dict(vq=dict(n_hiddens=64, n_res_layers=2, embedding_dim=64, n_codes=512,
                         downsample=(4, 4, 4)),
                 batch=4, prior=dict(hidden_dim=192, num_heads=4, num_layers=4)),
    "bair": dict(vq=dict(n_hiddens=240, n_res_layers=4, embedding_dim=256, n_codes=1024,
                         downsample=(4, 2, 2)),
                 batch=1, prior=dict(hidden_dim=576, num_heads=4, num_layers=8)),
}
NAMES = {"tiny": "ref-tiny", "bair": "ref-bair-full"}
RATE = "sample_tokens_per_s"


def median_s(fn, repeats, warmup=1):
    return common.time_ms(fn, repeats, warmup) / 1000.0


def vqvae_stages(name):
    """Our VQ-VAE of config `name`, built and compiled, and its timed stages.

    Returns:
        `(stages, vqvae)`: `stages` maps `"train"` (one train step at the config's
        batch), `"encode"` (one video) and `"decode"` (one video's codes) to callables
        that return when their result is computed.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_videogpt import VQVAE

    config = CONFIGS[name]
    keras.utils.set_random_seed(0)
    vqvae = VQVAE(sequence_length=16, resolution=64, **config["vq"])
    vqvae.compile(optimizer=keras.optimizers.Adam(3e-4))
    vqvae.optimizer.build(vqvae.trainable_variables)
    shape = (config["batch"],) + vqvae.video_shape
    video = tf.constant(np.random.uniform(-0.5, 0.5, shape), tf.float32)
    step = tf.function(vqvae.train_step)
    one = video[:1]
    encode, decode = tf.function(vqvae.encode), tf.function(vqvae.decode)
    codes = encode(one)
    stages = {"train": lambda: step(video),
              "encode": lambda: encode(one).numpy(),
              "decode": lambda: decode(codes).numpy()}
    return stages, vqvae


def ours(name):
    """Our figures for one config, in this process."""
    import keras
    import numpy as np
    import tensorflow as tf

    from keras_videogpt import Sampler, VideoGPT

    config = CONFIGS[name]
    batch, repeats = config["batch"], (5 if name == "tiny" else 3)
    stages, vqvae = vqvae_stages(name)
    out = {"vqvae_train_step_s": median_s(stages["train"], repeats)}
    # Warm-up and repeats as the reference bench's (2 and 5).
    out["vqvae_encode_s_per_video"] = median_s(stages["encode"], 5, warmup=2)
    out["vqvae_decode_s_per_video"] = median_s(stages["decode"], 5, warmup=2)

    prior = VideoGPT.from_vqvae(vqvae, dropout=0.2, attn_dropout=0.3, attn_type="full",
                                **config["prior"])
    prior.compile(optimizer=VideoGPT.default_optimizer(1000))
    prior.optimizer.build(prior.trainable_variables)
    targets = tf.constant(np.random.randint(0, vqvae.n_codes, (batch,) + vqvae.latent_shape),
                          tf.int32)
    prior_step = tf.function(prior.train_step)
    out["prior_train_step_s"] = median_s(lambda: prior_step({"codes": targets}), 3)

    rng = np.random.default_rng(0)
    prior.fc_out.kernel.assign(rng.normal(size=prior.fc_out.kernel.shape) * 0.05)
    sampler = Sampler(prior, vqvae)
    sampler.sample(1, seed=0)  # compiles
    start = time.perf_counter()
    sampler.sample(1, seed=1)["video_uint8"].numpy()
    out[RATE] = sampler.length / (time.perf_counter() - start)
    return {k: round(v, 4) for k, v in out.items()}


def run_ours(name):
    """`ours(name)` in a fresh process, so that each config starts from a clean heap."""
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--ours_only", name],
                          capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("OURS ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"our bench failed for {name}: {proc.stderr[-2000:]}")
    return json.loads(lines[-1][len("OURS "):])


def run_reference(name, python, checkout):
    env = dict(os.environ, REF_VIDEOGPT=checkout)
    proc = subprocess.run([python, REF_BENCH, name, "--sample"], capture_output=True, text=True,
                          env=env, cwd=os.path.dirname(REF_BENCH))
    if proc.returncode:
        raise RuntimeError(f"the reference bench failed for {name}: {proc.stderr[-2000:]}")
    out, machine = {}, {}
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        if row.get("config") == name:
            out[row["what"]] = row["value"]
        elif row.get("what") == "numpy_matmul_gflops":
            machine["numpy_matmul_gflops"] = round(row["value"], 1)
    return out, machine


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", default="tiny,bair")
    parser.add_argument("--ref_python", default=os.environ.get("REF_PYTHON"))
    parser.add_argument("--ref_videogpt", default=os.environ.get("REF_VIDEOGPT"))
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two sides this many times; medians over rounds")
    parser.add_argument("--ours_only", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1; got {args.rounds}")
    configs = common.check_names(parser, args.configs.split(","), CONFIGS, "config")
    if args.ours_only:
        print("OURS " + json.dumps(ours(args.ours_only)), flush=True)
        return
    with_reference = bool(args.ref_python and args.ref_videogpt)
    result = {"device": "cpu", "reference": "set up" if with_reference else "not set up "
              "(pass --ref_python and --ref_videogpt for both columns)", "configs": {}}
    if args.rounds > 1:
        result["rounds"] = args.rounds
    speedup = lambda what, ours, ref: ours / ref if what == RATE else ref / ours
    for name in configs:
        refs, mines = [], []
        for _ in range(args.rounds):
            if with_reference:
                reference, machine = run_reference(name, args.ref_python, args.ref_videogpt)
                refs.append(reference)
                result.update(machine)
            mines.append(run_ours(name))
        row = {}
        for what in mines[0]:
            value = statistics.median(m[what] for m in mines)
            row[what] = {"ours": round(value, 4)}
            if refs and all(what in r for r in refs):
                ref = statistics.median(r[what] for r in refs)
                row[what]["reference"] = round(ref, 4)
                row[what]["speedup"] = round(speedup(what, value, ref), 2)
                if args.rounds > 1:
                    row[what]["speedup_per_round"] = [
                        round(speedup(what, m[what], r[what]), 2) for m, r in zip(mines, refs)]
        result["configs"][NAMES[name]] = row
        print(json.dumps({NAMES[name]: row}), file=sys.stderr, flush=True)
    common.emit(result)


if __name__ == "__main__":
    main()
