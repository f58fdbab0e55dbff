"""EMA codebook against FSQ at equal steps on the demo's data: `python bench/quantizers.py`.

Trains the `tiny` VQ-VAE twice on the same Moving MNIST stream (the demo
recipe's batch and learning rate), once with the reference's EMA codebook
(128 codes) and once with FSQ at a like number of codes (levels 8, 4, 4: 128),
and prints JSON: at every `--every` steps, the codes used and their perplexity
over held-out clips, the reconstruction NMSE, and at the end the digit score of
the reconstructions (`keras_videogpt.metrics.digits`), beside real clips'.
"""

import argparse
import time

import common
import numpy as np


def run(quantizer, steps, every, batch, seed, held_out, classifier):
    import keras

    from keras_videogpt import VQVAE, presets
    from keras_videogpt.data import moving_mnist_dataset
    from keras_videogpt.metrics import CodeUsageStats, nmse
    from keras_videogpt.metrics.digits import digit_score

    keras.utils.set_random_seed(seed)
    extra = dict(quantizer="fsq", levels=(8, 4, 4)) if quantizer == "fsq" else {}
    model = VQVAE(**dict(presets.vqvae_config("tiny"), seed=seed, **extra))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    data = moving_mnist_dataset(512, seed=seed).shuffle(512, seed=seed).repeat().batch(
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
    args = parser.parse_args()

    from keras_videogpt.data import moving_mnist_dataset
    from keras_videogpt.metrics.digits import digit_score, train_digit_classifier

    held_out = next(iter(moving_mnist_dataset(16, split="test", seed=1).batch(16))).numpy()
    classifier = train_digit_classifier(seed=args.seed)
    result = {"data": "moving_mnist (demo recipe: batch 8, lr 1e-3)", "steps": args.steps,
              "held_out_clips": len(held_out),
              "digit_score_real": digit_score(held_out, classifier)["score"]}
    for quantizer in ("ema", "fsq"):
        result[quantizer] = run(quantizer, args.steps, args.every, args.batch, args.seed,
                                held_out, classifier)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
