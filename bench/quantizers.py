"""EMA codebook against FSQ at equal steps on the demo's data: `python bench/quantizers.py`.

Trains a VQ-VAE preset (`--preset`: `tiny`, 4x16x16 codes, or `moving_mnist`,
the shipped 8x16x16 grid) twice on the same Moving MNIST stream of
`--num_videos` clips (the demo recipe's batch and learning rate), once with the
reference's EMA codebook (128 codes) and once with FSQ at a like number of
codes (levels 8, 4, 4: 128),
and prints JSON: at every `--every` steps, the codes used and their perplexity
over held-out clips, the reconstruction NMSE, and at the end the digit score of
the reconstructions (`keras_videogpt.metrics.digits`), beside real clips'.
"""

import argparse
import time

import common
import numpy as np


def run(quantizer, args, held_out, classifier):
    import keras

    from keras_videogpt import VQVAE, presets
    from keras_videogpt.data import moving_mnist_dataset
    from keras_videogpt.metrics import CodeUsageStats, nmse
    from keras_videogpt.metrics.digits import digit_score

    steps, every, batch, seed = args.steps, args.every, args.batch, args.seed
    keras.utils.set_random_seed(seed)
    extra = dict(quantizer="fsq", levels=(8, 4, 4)) if quantizer == "fsq" else {}
    model = VQVAE(**dict(presets.vqvae_config(args.preset), seed=seed, **extra))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = moving_mnist_dataset(args.num_videos, seed=seed).shuffle(
        args.num_videos, seed=seed).repeat().batch(
        batch, drop_remainder=True)
    curve, began = [], time.perf_counter()
    for done in range(every, steps + 1, every):
        model.fit(data, epochs=1, steps_per_epoch=every, verbose=0)
        out = model.forward(held_out, training=False)
        usage = CodeUsageStats(model.n_codes).update(out["codes"]).result()
        curve.append({"step": done, "codes_used": usage["codes_used"],
                      "perplexity": round(usage["perplexity"], 1),
                      "nmse": round(nmse(held_out, np.clip(out["recon"], -0.5, 0.5)), 4)})
    recon = np.clip(np.asarray(model(held_out, training=False)), -0.5, 0.5)
    return {"n_codes": model.n_codes, "curve": curve,
            "digit_score_reconstructions": digit_score(recon, classifier)["score"],
            "train_s": round(time.perf_counter() - began, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="tiny", choices=("tiny", "moving_mnist"))
    parser.add_argument("--num_videos", type=int, default=512,
                        help="training clips (the moving_mnist recipe uses 4096)")
    parser.add_argument("--clips", type=int, default=16, help="held-out clips scored")
    args = parser.parse_args()
    if min(args.steps, args.every, args.batch, args.num_videos, args.clips) < 1:
        parser.error("--steps, --every, --batch, --num_videos and --clips must be >= 1")

    from keras_videogpt.data import moving_mnist_dataset
    from keras_videogpt.metrics.digits import digit_score, train_digit_classifier

    held_out = next(iter(moving_mnist_dataset(args.clips, split="test", seed=1).batch(
        args.clips))).numpy()
    classifier = train_digit_classifier(seed=args.seed)
    result = {"data": f"moving_mnist, {args.num_videos} clips (batch {args.batch}, lr 1e-3)",
              "preset": args.preset, "steps": args.steps,
              "held_out_clips": len(held_out),
              "digit_score_real": digit_score(held_out, classifier)["score"]}
    for quantizer in ("ema", "fsq"):
        result[quantizer] = run(quantizer, args, held_out, classifier)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
