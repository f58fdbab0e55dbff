"""VQ-VAE speed and memory: `python bench/vqvae.py [--quick]` prints JSON.

For the `tiny` (batch 4) and `bair_stride4x2x2` (batch 1) presets: train-step
ms per batch (compiled tf.function, XLA off: XLA's CPU conv3d is ~15x
slower here), encode and decode ms per video, and peak RSS. Random weights
and inputs: speed does not depend on them.
"""

import argparse

import common
import numpy as np
import tensorflow as tf


def bench_preset(preset, batch, repeats):
    import keras
    from keras_videogpt import VQVAE

    model = VQVAE.from_preset(preset)
    model.compile(optimizer=keras.optimizers.Adam(3e-4))
    model.optimizer.build(model.trainable_variables)
    video = tf.constant(np.random.uniform(-0.5, 0.5, (batch,) + model.video_shape), tf.float32)
    step = tf.function(model.train_step)
    encode = tf.function(model.encode)
    codes = encode(video)
    decode = tf.function(model.decode)
    return {
        "batch": batch, "params": model.count_params(), "latent_shape": model.latent_shape,
        "train_step_ms": common.time_ms(lambda: step(video), repeats),
        "encode_ms_per_video": round(common.time_ms(lambda: encode(video), repeats) / batch, 2),
        "decode_ms_per_video": round(common.time_ms(lambda: decode(codes), repeats) / batch, 2),
        "peak_rss_mb_so_far": common.peak_rss_mb(),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny preset only")
    args = parser.parse_args()
    result = {"device": "cpu", "threads": tf.config.threading.get_intra_op_parallelism_threads()}
    result["tiny"] = bench_preset("tiny", 4, 3)
    if not args.quick:
        result["bair_stride4x2x2"] = bench_preset("bair_stride4x2x2", 1, 2)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
