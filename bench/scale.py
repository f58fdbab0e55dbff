"""Training throughput across replicas, XLA and precision: `python bench/scale.py` prints JSON.

For the VQ-VAE and the prior, `tiny`, `bair` and `moving_mnist` presets
(`--presets`), each configuration in a fresh process (logical devices are
fixed at TF start-up); `--variants` picks the comparisons:
- steps/s on 1 against 2 logical CPU devices (MirroredStrategy, same global batch),
  from the median step time after two warm-up steps of one `fit`;
- the XLA on/off ratio (`jit_compile=True`);
- bf16 on/off (`mixed_bfloat16`), with whether this CPU has bfloat16 units
  (`cpu_bf16_units`: AVX512_BF16 or AMX, from /proc/cpuinfo), on which it pays.
  `python bench/scale.py --presets=moving_mnist --models=prior --variants=bf16`
  gives docs/scaling.md's figure (the shipped prior at its recipe's batch 16);
- parameters, and memory: float32 weights + gradients + Adam state
  (16 bytes per parameter), and activations per example, measured as the peak
  RSS at global batch 2 minus batch 1 on one device (what a replica needs per
  example it holds; the README's per-replica figures come from these), for the
  prior also with gradient checkpointing (`gradient_checkpointing=True`).

The CPU numbers say how the code scales, not what a TPU does: XLA's CPU conv3d
is slow, and bf16 has no fast path on most CPUs. XLA is measured on the bair
presets only with `--bair_xla` (compiling them takes many minutes on CPU).
"""

import argparse
import json
import os
import subprocess
import sys
import time

import common

BATCH = {"tiny": 4, "bair": 2, "moving_mnist": 8}  # moving_mnist: its recipe's prior batch
VQVAE_PRESET = {"tiny": "tiny", "bair": "bair_stride4x2x2", "moving_mnist": "moving_mnist"}
VARIANTS = ("two_devices", "bf16", "xla", "remat")


def cpu_bf16_units():
    """The bfloat16 instruction sets this CPU lists (empty when none, or off Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return []
    return sorted(set(flags) & {"avx512_bf16", "amx_bf16"})


def child(model, preset, devices, xla, policy, batch, steps, remat=False):
    import tensorflow as tf

    if devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
    import keras
    import numpy as np

    from keras_videogpt import VQVAE, VideoGPT

    keras.mixed_precision.set_global_policy(policy)
    strategy = (tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(devices)])
                if devices > 1 else tf.distribute.get_strategy())
    rng = np.random.default_rng(0)
    with strategy.scope():
        vqvae = VQVAE.from_preset(VQVAE_PRESET[preset], synchronized_bn=devices > 1)
        if model == "vqvae":
            net = vqvae
            x = rng.uniform(-.5, .5, (batch,) + vqvae.video_shape).astype("float32")
            net.compile(optimizer=keras.optimizers.Adam(3e-4), jit_compile=xla)
        else:
            net = VideoGPT.from_preset(preset, vqvae, gradient_checkpointing=remat)
            x = {"codes": rng.integers(0, vqvae.n_codes, (batch,) + vqvae.latent_shape)
                 .astype("int32")}
            if net.n_cond_frames:
                x["cond_frames"] = rng.uniform(-.5, .5, (batch, net.n_cond_frames)
                                               + net.frame_shape + (3,)).astype("float32")
            net.compile(optimizer=net.default_optimizer(1000), jit_compile=xla)
    ds = tf.data.Dataset.from_tensors(x).repeat()
    times = []

    class StepTimer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.start)

    # One fit: the first step traces and compiles, the second may still warm
    # up; the median of the rest is the steady step time. (A second `fit`
    # call would time the strategy's new input iterator and retrace too.)
    warmup = 2
    net.fit(ds, steps_per_epoch=steps + warmup, epochs=1, verbose=0, callbacks=[StepTimer()])
    step = float(np.median(times[warmup:]))
    return {"steps_per_s": round(1.0 / step, 4), "first_step_s": round(times[0], 2),
            "params": net.count_params(), "peak_rss_mb": common.peak_rss_mb()}


def run(*args):
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                          *map(str, args)], capture_output=True, text=True)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1][:300]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(model, preset, steps, xla=True, memory_only=False, variants=VARIANTS):
    b = BATCH[preset]
    one = run(model, preset, 1, 0, "float32", b, steps, 0)
    out = {"global_batch": b, "params": one.get("params"),
           "weights_grads_adam_mb": round(one.get("params", 0) * 16 / 2**20, 1),
           "one_device": one}
    if not memory_only:
        if "two_devices" in variants:
            out["two_devices"] = run(model, preset, 2, 0, "float32", b, steps, 0)
        if "bf16" in variants:
            out["bf16"] = run(model, preset, 1, 0, "mixed_bfloat16", b, steps, 0)
        if "xla" in variants:
            out["xla"] = run(model, preset, 1, 1, "float32", b, steps, 0) if xla else "skipped"
    def per_example(big, small):  # peak RSS at batch b minus batch 1, per extra example
        if "peak_rss_mb" in big and "peak_rss_mb" in small:
            return round((big["peak_rss_mb"] - small["peak_rss_mb"]) / (b - 1), 1)
        return None

    if memory_only or set(variants) == set(VARIANTS):  # all of them: the full report
        out["activation_mb_per_example"] = per_example(one, run(model, preset, 1, 0, "float32",
                                                                1, 1, 0))
    # Gradient checkpointing: each block recomputed in the backward pass.
    if model == "prior" and "remat" in variants:
        out["remat"] = run(model, preset, 1, 0, "float32", b, steps, 1)
        out["remat_activation_mb_per_example"] = per_example(
            out["remat"], run(model, preset, 1, 0, "float32", 1, 1, 1))
    rate = lambda k: out[k]["steps_per_s"] if isinstance(out.get(k), dict) and (
        "steps_per_s" in out[k]) else None
    base = rate("one_device")
    for key, name in (("two_devices", "two_over_one_device"), ("xla", "xla_over_eager"),
                      ("bf16", "bf16_over_float32"), ("remat", "remat_over_plain")):
        if base and rate(key):
            out[name] = round(rate(key) / base, 2)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--presets", default="tiny,bair")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--bair_xla", action="store_true",
                        help="also compile the bair models with XLA (many minutes on CPU)")
    parser.add_argument("--memory_only", action="store_true",
                        help="one device only: parameters, steps/s and activation memory")
    parser.add_argument("--models", default="vqvae,prior")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comparisons against one float32 device, among {', '.join(VARIANTS)}")
    parser.add_argument("--child", nargs=8, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        model, preset, devices, xla, policy, batch, steps, remat = args.child
        print(json.dumps(child(model, preset, int(devices), bool(int(xla)), policy, int(batch),
                               int(steps), bool(int(remat)))))
        return
    presets = common.check_names(parser, args.presets.split(","), BATCH, "preset")
    variants = common.check_names(parser, tuple(v for v in args.variants.split(",") if v),
                                  VARIANTS, "variant")
    result = {"device": "cpu, 2 cores; 2 logical devices share them",
              "cpu_bf16_units": cpu_bf16_units()}
    for preset in presets:
        steps = args.steps if preset != "bair" else 1
        xla = preset != "bair" or args.bair_xla
        result[preset] = {m: measure(m, preset, steps, xla, args.memory_only, variants)
                          for m in args.models.split(",")}
    result["peak_rss_mb_parent"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
