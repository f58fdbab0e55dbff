"""Zero against replicate padding in time, at equal steps: `python bench/temporal_padding.py`.

Trains the `moving_mnist` VQ-VAE preset (8x16x16 codes) once per padding on
the same Moving MNIST stream (the `moving_mnist` recipe's data, batch 8, lr
1e-3, seed 0) and prints JSON: for `--clips` held-out clips, the
reconstruction NMSE (overall and per frame), the digit score of the
reconstructions (`keras_videogpt.metrics.digits`), the codes in use, and, per
latent step, the share of codes equal to the code one latent step before at
the same place, for the clips as they are (`moving_same`) and for clips made
of their first frame held still (`still_same`). Code changes at the clip's
ends that its content does not explain are what zero padding adds; the prior
has to learn them. With `--prior_steps=N`, the `moving_mnist` prior preset then
trains N steps on the codes of `--num_videos` training clips from each VQ-VAE
(batch 8, lr 1e-3 with cosine decay) and reports its held-out bits/dim, per
latent step too, and the digit score of `--clips` samples (seed 0).
"""

import argparse
import time

import common
import numpy as np


def agreement(codes):
    """Per latent step t >= 1: share of codes equal to those of step t - 1."""
    return [round(float((codes[:, t] == codes[:, t - 1]).mean()), 3)
            for t in range(1, codes.shape[1])]


def run(padding, args, held_out, classifier):
    """Trains the VQ-VAE with `padding`; returns its report, the model and the held-out codes."""
    import keras

    from keras_videogpt import VQVAE, presets
    from keras_videogpt.data import sources
    from keras_videogpt.metrics import CodeUsageStats, nmse
    from keras_videogpt.metrics.digits import digit_score

    keras.utils.set_random_seed(args.seed)
    model = VQVAE(**dict(presets.vqvae_config(args.preset), seed=args.seed,
                         temporal_padding=padding))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    t, h, _, _ = model.video_shape
    data = sources.video_source("moving_mnist", args.batch, t, h, num_videos=args.num_videos,
                                seed=args.seed)
    began = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0)
    train_s = time.perf_counter() - began
    codes = np.asarray(model.encode(held_out))
    still = np.asarray(model.encode(np.repeat(held_out[:, :1], t, axis=1)))
    recon = np.clip(np.asarray(model.decode(codes)), -0.5, 0.5)
    per_frame = ((recon - held_out) ** 2).mean(axis=(0, 2, 3, 4)) / held_out.var()
    report = {"nmse": round(nmse(held_out, recon), 4),
              "nmse_by_frame": [round(float(e), 3) for e in per_frame],
              "digit_score_reconstructions": round(digit_score(recon, classifier)["score"], 3),
              "codes_used": CodeUsageStats(model.n_codes).update(codes).result()["codes_used"],
              "moving_same": agreement(codes), "still_same": agreement(still),
              "train_s": round(train_s, 1)}
    return report, model, codes


def prior_run(vqvae, held_codes, args, classifier):
    """The moving_mnist prior preset trained on `vqvae`'s codes: bits/dim on `held_codes`
    (the held-out clips' codes) and the digit score of as many samples."""
    import keras
    import tensorflow as tf

    from keras_videogpt import VideoGPT, presets
    from keras_videogpt.data import sources
    from keras_videogpt.metrics import BitsPerDimStats
    from keras_videogpt.metrics.digits import digit_score
    from keras_videogpt.sampling import cached_sampler

    t, h, _, _ = vqvae.video_shape
    clips = sources.first_batch(sources.video_source(
        "moving_mnist", args.num_videos, t, h, num_videos=args.num_videos, seed=args.seed),
        args.num_videos)
    codes = np.concatenate([np.asarray(vqvae.encode(clips[i:i + 64]))
                            for i in range(0, len(clips), 64)])
    data = tf.data.Dataset.from_tensor_slices({"codes": codes}).shuffle(
        len(codes), seed=args.seed).repeat().batch(8, drop_remainder=True)
    keras.utils.set_random_seed(args.seed)
    prior = VideoGPT.from_vqvae(vqvae, **presets.prior_config("moving_mnist"))
    prior.compile(optimizer=prior.default_optimizer(
        args.prior_steps, 1e-3, min(100, args.prior_steps // 2)))
    began = time.perf_counter()
    prior.fit(data, epochs=1, steps_per_epoch=args.prior_steps, verbose=0)
    train_s = time.perf_counter() - began
    stats = BitsPerDimStats().update(prior, {"codes": held_codes})
    samples = cached_sampler(prior, vqvae).sample(len(held_codes), [args.seed, 0])
    return {"steps": args.prior_steps, "bits_per_dim": round(stats.result(), 4),
            "bits_by_latent_step": [round(b, 3) for b in stats.by_latent_step()],
            "digit_score_samples": round(
                digit_score(samples["video_uint8"].numpy(), classifier)["score"], 3),
            "train_s": round(train_s, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--num_videos", type=int, default=4096,
                        help="training clips (the moving_mnist recipe's 4096)")
    parser.add_argument("--clips", type=int, default=32, help="held-out clips scored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="moving_mnist", choices=("tiny", "moving_mnist"))
    parser.add_argument("--prior_steps", type=int, default=0,
                        help="also train a prior this many steps on each VQ-VAE's codes")
    args = parser.parse_args()
    if min(args.steps, args.batch, args.num_videos, args.clips) < 1 or args.prior_steps < 0:
        parser.error("--steps, --batch, --num_videos and --clips must be >= 1 "
                     "(--prior_steps >= 0)")

    from keras_videogpt.data import sources
    from keras_videogpt.metrics.digits import digit_score, train_digit_classifier
    from keras_videogpt.presets import vqvae_config

    config = vqvae_config(args.preset)
    held_out = sources.first_batch(sources.held_out_source(
        "moving_mnist", args.clips, config["sequence_length"], config["resolution"],
        seed=args.seed), args.clips)
    classifier = train_digit_classifier(seed=args.seed)
    result = {"preset": args.preset, "steps": args.steps, "batch": args.batch,
              "held_out_clips": args.clips,
              "digit_score_real": round(digit_score(held_out, classifier)["score"], 3)}
    for padding in ("zeros", "replicate"):
        result[padding], model, codes = run(padding, args, held_out, classifier)
        if args.prior_steps:
            result[padding]["prior"] = prior_run(model, codes, args, classifier)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
