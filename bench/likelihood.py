"""Held-out bits/dim of full, sparse and causal axial priors at equal steps: `bench/likelihood.py`.

On Moving MNIST codes, in one run:
1. a VQ-VAE (`--vqvae=FILE.keras`, or the `tiny` preset trained here for
   `--vqvae_steps` steps) encodes `--train_clips` training clips and
   `--test_clips` held-out clips (of digits the training clips never show);
2. one `tiny` prior per attention type trains on the training codes for
   `--steps` steps, same seed, same batches, same schedule;
3. each prior's bits/dim (cross-entropy per code, in bits) is measured on
   the held-out codes.

Prints one JSON document with the bits/dim, the training time per prior and
the final training loss. The figures compare attention types; they are not
quality targets.
"""

import argparse
import time

import common
import numpy as np


def train_vqvae(steps, batch, seed):
    import keras

    from keras_videogpt import VQVAE
    from keras_videogpt.data import moving_mnist_dataset

    keras.utils.set_random_seed(seed)
    vqvae = VQVAE.from_preset("tiny")
    videos = moving_mnist_dataset(1024, seed=seed).shuffle(1024, seed=seed).repeat().batch(
        batch, drop_remainder=True)
    vqvae.compile(optimizer=keras.optimizers.Adam(1e-3))
    vqvae.fit(videos, epochs=1, steps_per_epoch=steps, verbose=0)
    return vqvae


def encode(vqvae, clips, seed, split, batch=16):
    from keras_videogpt.data.moving_mnist import generate_moving_mnist

    videos = generate_moving_mnist(clips, vqvae.video_shape[0], vqvae.video_shape[1], seed=seed,
                                   split=split)
    return np.concatenate([vqvae.encode(videos[i:i + batch]).numpy()
                           for i in range(0, clips, batch)])


def bits_per_dim(prior, codes, batch=16):
    from keras_videogpt.metrics import BitsPerDimStats

    stats = BitsPerDimStats()
    for i in range(0, len(codes), batch):
        stats.update(prior, codes[i:i + batch])
    return stats.result()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vqvae", help="a trained VQ-VAE (.keras); default: train `tiny` here")
    parser.add_argument("--vqvae_steps", type=int, default=300)
    parser.add_argument("--types", default="full,axial,sparse")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--learning_rate", type=float, default=1e-3)
    parser.add_argument("--train_clips", type=int, default=512)
    parser.add_argument("--test_clips", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from keras_videogpt import VQVAE, VideoGPT, checkpoints

    start = time.perf_counter()
    if args.vqvae:
        vqvae = checkpoints.load(args.vqvae, VQVAE)
    else:
        vqvae = train_vqvae(args.vqvae_steps, args.batch_size, args.seed)
    train = encode(vqvae, args.train_clips, seed=args.seed + 100, split="train")
    test = encode(vqvae, args.test_clips, seed=args.seed + 200, split="test")
    result = {"vqvae": args.vqvae or f"tiny, {args.vqvae_steps} steps here",
              "vqvae_s": round(time.perf_counter() - start, 1),
              "latent": list(vqvae.latent_shape), "n_codes": vqvae.n_codes,
              "codes_used_train": int(len(np.unique(train))),
              "train_clips": args.train_clips, "test_clips": args.test_clips,
              "prior": "tiny preset (hidden 96, 4 heads, 2 layers)", "steps": args.steps,
              "batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "uniform_bits_per_dim": round(float(np.log2(vqvae.n_codes)), 3), "priors": {}}
    for attn_type in args.types.split(","):
        keras.utils.set_random_seed(args.seed)
        prior = VideoGPT.from_preset("tiny", vqvae, attn_type=attn_type)
        prior.compile(optimizer=VideoGPT.default_optimizer(args.steps, args.learning_rate))
        data = tf.data.Dataset.from_tensor_slices(train).shuffle(
            len(train), seed=args.seed).repeat().batch(args.batch_size, drop_remainder=True)
        began = time.perf_counter()
        hist = prior.fit(data, epochs=1, steps_per_epoch=args.steps, verbose=0).history
        result["priors"][attn_type] = {
            "test_bits_per_dim": round(bits_per_dim(prior, test), 4),
            "train_bits_per_dim_last_epoch": round(hist["bits_per_dim"][-1], 4),
            "train_s": round(time.perf_counter() - began, 1)}
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
