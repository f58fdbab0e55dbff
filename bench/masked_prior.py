"""A masked (MaskGIT) prior against the autoregressive prior on the demo's Moving MNIST.

    python bench/masked_prior.py --codes=runs/moving_mnist/codes --steps=1200

In one run:
1. a `MaskedVideoPrior` the size of the shipped `moving_mnist` prior (hidden
   192, 4 heads, 4 layers, non-causal axial attention) trains `--steps` steps
   on `--codes` (the `moving_mnist` recipe's codes; without them, on codes
   the shipped VQ-VAE computes in the input pipeline), batch 16, lr 1e-3 with
   cosine decay;
   (`--from_shipped`: starting from the shipped autoregressive prior's
   weights, which the bidirectional model reuses, instead of from scratch);
2. the shipped autoregressive `moving_mnist` prior (its steps are in
   `keras_videogpt/weights/MODEL_CARD.md`) is loaded beside it; with
   `--ar_steps`, an autoregressive prior of the same size also trains here
   for that many steps on the same batches, for a comparison at equal steps;
3. for each prior: sampling time per video (decode included, compiled with
   XLA, median of 3 after a warm-up) at batch 1 and 8, the digit score of
   `--clips` samples drawn with seed 0 (`keras_videogpt.metrics.digits`),
   and FVD of `--fvd_clips` samples against as many held-out clips (offline
   I3D; a small clip count, not comparable to papers).

Prints one JSON document.
"""

import argparse
import os
import time

import common
import numpy as np


def train_set(args, vqvae):
    from keras_videogpt.data import codes_dataset, encode_in_pipeline, sources

    if args.codes:
        return codes_dataset(args.codes, args.batch_size, seed=args.seed, n_cond_frames=0)
    t, h, _, _ = vqvae.video_shape
    videos = sources.video_source("moving_mnist", args.batch_size, t, h, num_videos=4096,
                                  seed=args.seed)
    return encode_in_pipeline(videos, vqvae)


def train(prior, data, steps, learning_rate):
    prior.compile(optimizer=prior.default_optimizer(steps, learning_rate))
    began = time.perf_counter()
    hist = prior.fit(data, epochs=1, steps_per_epoch=steps, verbose=0).history
    return {"steps": steps, "train_s": round(time.perf_counter() - began, 1),
            "final_train_loss": round(float(hist["loss"][-1]), 4)}


def measure(name, sampler, classifier, real, i3d, args):
    from keras_videogpt.metrics.digits import digit_score
    from keras_videogpt.metrics.fvd import fvd

    out = {}
    for batch in (1, 8):
        ms = common.time_ms(lambda: sampler.sample(batch, [args.seed, 1])["video"].numpy())
        out[f"seconds_per_video_batch{batch}"] = round(ms / 1000 / batch, 3)
    videos = np.concatenate([
        sampler.sample(16, [args.seed, i])["video_uint8"].numpy()
        for i in range(max(args.clips, args.fvd_clips) // 16)])
    out["digit_score"] = round(digit_score(videos[:args.clips], classifier)["score"], 3)
    if args.fvd_clips:
        out["fvd"] = round(float(fvd(i3d, real, videos[:args.fvd_clips])), 1)
    common.progress(name, out)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--codes", help="a folder of codes (train.encode_codes / the recipe)")
    parser.add_argument("--steps", type=int, default=1200)
    parser.add_argument("--from_shipped", action="store_true",
                        help="start the masked prior from the shipped autoregressive prior's "
                             "weights (keras_videogpt.prior.warm_start) instead of from scratch")
    parser.add_argument("--ar_steps", type=int, default=0,
                        help="also train an autoregressive prior here for this many steps")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--sampling_steps", type=int, default=12)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--fvd_clips", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.clips % 16 or args.fvd_clips % 16:
        parser.error("--clips and --fvd_clips must be multiples of 16")

    import keras

    from keras_videogpt import VQVAE, MaskedVideoPrior, VideoGPT, presets
    from keras_videogpt.data import sources
    from keras_videogpt.masked_sampling import MaskedSampler
    from keras_videogpt.metrics.digits import train_digit_classifier
    from keras_videogpt.metrics.i3d import load_i3d
    from keras_videogpt.prior import warm_start
    from keras_videogpt.sampling import Sampler
    from keras_videogpt.visualize import to_uint8

    vqvae = VQVAE.from_preset("moving_mnist", weights=True)
    data = train_set(args, vqvae)
    size = dict(presets.prior_config("moving_mnist"), attn_type="axial")
    result = {"vqvae": "moving_mnist (shipped weights)", "codes": args.codes or "in pipeline",
              "batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "prior_size": {k: size[k] for k in ("hidden_dim", "num_heads", "num_layers")},
              "sampling_steps_masked": args.sampling_steps, "digit_clips": args.clips,
              "fvd_clips": args.fvd_clips, "priors": {}}

    keras.utils.set_random_seed(args.seed)
    masked = MaskedVideoPrior.from_vqvae(vqvae, seed=args.seed, **size)
    shipped = VideoGPT.from_preset("moving_mnist", vqvae, weights=True)
    if args.from_shipped:
        warm_start(masked, shipped)
    trained = {"masked": (masked, dict(train(masked, data, args.steps, args.learning_rate),
                                       started_from="shipped autoregressive prior"
                                       if args.from_shipped else "scratch"))}
    header = presets.preset_info("prior", "moving_mnist")
    trained["autoregressive, shipped"] = (shipped, {"steps": "see MODEL_CARD.md",
                                                    "weights": os.path.basename(header["weights"])})
    if args.ar_steps:
        keras.utils.set_random_seed(args.seed)
        ar = VideoGPT.from_vqvae(vqvae, **size)
        trained["autoregressive, trained here"] = (ar, train(ar, data, args.ar_steps,
                                                             args.learning_rate))

    classifier = train_digit_classifier(seed=args.seed)
    i3d = load_i3d(offline=True) if args.fvd_clips else None
    t, h, _, _ = vqvae.video_shape
    real = None
    if args.fvd_clips:
        real = to_uint8(sources.first_batch(sources.held_out_source(
            "moving_mnist", args.fvd_clips, t, h, seed=args.seed), args.fvd_clips))
    for name, (prior, info) in trained.items():
        sampler = (MaskedSampler(prior, vqvae, steps=args.sampling_steps)
                   if isinstance(prior, MaskedVideoPrior) else Sampler(prior, vqvae))
        result["priors"][name] = dict(info, **measure(name, sampler, classifier, real, i3d, args))
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
