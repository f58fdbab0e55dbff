"""Prior speed: `python bench/prior.py [--quick]` prints JSON.

- train-step ms: `tiny` prior (batch 4) and `bair` prior (batch 1, with its
  1-frame ResNet-34 conditioning);
- sampling tokens/s for one video: the compiled KV-cached sampler (one
  tf.while_loop) against the naive loop that reruns the full forward pass
  per token, and their ratio, on the tiny latent (4x16x16) and the bair
  latent (4x32x32); the compiled sampler also at batch 8 on bair. The naive
  rate is measured over its first `--naive_tokens` tokens: its cost per token
  is the same full forward pass at every position;
- peak RSS.
"""

import argparse
import time

import common
import numpy as np
import tensorflow as tf


def make_prior(preset, latent, n_codes, embedding_dim, frame):
    from keras_videogpt import VideoGPT, presets

    config = presets.prior_config(preset)
    if config.get("n_cond_frames"):
        config["frame_shape"] = frame
    prior = VideoGPT(latent_shape=latent, n_codes=n_codes, embedding_dim=embedding_dim,
                     **config)
    rng = np.random.default_rng(0)
    prior.fc_out.kernel.assign(rng.normal(size=prior.fc_out.kernel.shape) * 0.05)
    return prior


def conditions(prior, batch):
    if not prior.n_cond_frames:
        return {}
    frames = np.random.uniform(-0.5, 0.5, (batch, prior.n_cond_frames) + prior.frame_shape + (3,))
    return {"cond_frames": frames.astype("float32")}


def train_step_ms(prior, batch, repeats):
    from keras_videogpt import VideoGPT

    prior.compile(optimizer=VideoGPT.default_optimizer(1000))
    prior.optimizer.build(prior.trainable_variables)
    codes = np.random.randint(0, prior.n_codes, (batch,) + prior.latent_shape).astype("int32")
    data = dict(conditions(prior, batch), codes=tf.constant(codes))
    step = tf.function(prior.train_step)
    return common.time_ms(lambda: step(data), repeats)


def sampling_rates(prior, naive_tokens, batches=(1,)):
    from keras_videogpt import Sampler, sampling

    length = int(np.prod(prior.latent_shape))
    out = {}
    sampler = Sampler(prior)
    for batch in batches:
        cond = conditions(prior, batch)
        start = time.perf_counter()
        sampler.sample_codes(batch, seed=0, **cond)
        first = time.perf_counter() - start
        start = time.perf_counter()
        sampler.sample_codes(batch, seed=1, **cond)
        seconds = time.perf_counter() - start
        out[f"cached_batch{batch}"] = {"tokens_per_s": round(batch * length / seconds, 1),
                                       "seconds_per_batch": round(seconds, 2),
                                       "first_call_s": round(first, 2)}
    cond = conditions(prior, 1)
    sampling.naive_sample_codes(prior, 1, seed=0, steps=2, **cond)  # compile
    start = time.perf_counter()
    sampling.naive_sample_codes(prior, 1, seed=0, steps=naive_tokens, **cond)
    naive = naive_tokens / (time.perf_counter() - start)
    out["naive_batch1"] = {"tokens_per_s": round(naive, 3), "tokens_timed": naive_tokens}
    out["cached_over_naive_batch1"] = round(out["cached_batch1"]["tokens_per_s"] / naive, 1)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny preset only")
    parser.add_argument("--naive_tokens", type=int, default=4)
    args = parser.parse_args()
    result = {"device": "cpu"}
    tiny = make_prior("tiny", (4, 16, 16), 128, 64, (64, 64))
    result["tiny"] = {"latent": [4, 16, 16], "params": tiny.count_params(),
                      "train_step_ms_batch4": train_step_ms(tiny, 4, 3),
                      "sampling": sampling_rates(tiny, 4 * args.naive_tokens)}
    result["peak_rss_mb_after_tiny"] = common.peak_rss_mb()
    if not args.quick:
        bair = make_prior("bair", (4, 32, 32), 1024, 256, (64, 64))
        result["bair"] = {"latent": [4, 32, 32], "params": bair.count_params(),
                          "train_step_ms_batch1": train_step_ms(bair, 1, 2),
                          "sampling": sampling_rates(bair, args.naive_tokens, batches=(1, 8))}
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
