"""Prior speed: `python bench/prior.py [--quick]` prints JSON.

- train-step ms: `tiny` prior (batch 4) and `bair` prior (batch 1, with its
  1-frame ResNet-34 conditioning);
- sampling tokens/s for one video: the KV-cached sampler (one tf.while_loop,
  with XLA, the default, and with TF's graph executor) against the naive loop
  that reruns the full forward pass per token, and their ratio, on the tiny
  latent (4x16x16) and the bair latent (4x32x32); the XLA sampler also at
  batch 8 on bair. The cached rates time one whole video after compiling;
  the naive rate is measured over its first `--naive_tokens` tokens, as its
  cost per token is the same full forward pass at every position;
- peak RSS.

`--attention` instead compares full, sparse and causal axial attention at the
bair latent and a long 8x32x32 one, each in its own process (train step, peak
memory, sampling tokens/s): see `bench/attention.py`.
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


def cached_rate(sampler, batch, cond):
    """Compile time (tracing + XLA, over a 2-position chunk), then one whole video, timed."""
    from keras_videogpt import sampling

    vector, frames = sampler.conditions(batch, cond.get("cond_frames"), None)
    seeds = sampling.seed_rows(0, batch)
    controls = (tf.constant(1.0), tf.constant(0), tf.constant(1.0))
    start = time.perf_counter()
    prev, codes, caches, cross = sampler.start(batch, vector, frames)
    sampler.decode_positions(tf.constant(0), tf.constant(2), prev, codes, caches, cross, seeds, *controls,
                   vector)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    # chunks=1: the whole loop in one call of the function compiled above.
    sampler.sample_codes(batch, seed=1, **cond, progress=lambda *_: None, chunks=1)
    seconds = time.perf_counter() - start
    return {"tokens_per_s": round(batch * sampler.length / seconds, 1),
            "seconds_per_batch": round(seconds, 2), "compile_s": round(compile_s, 2)}


def sampling_rates(prior, naive_tokens, batches=(1,), graph_batches=(1,)):
    from keras_videogpt import Sampler, sampling

    out = {}
    for jit, batch_list in ((True, batches), (False, graph_batches)):
        sampler = Sampler(prior, jit_compile=jit)
        for batch in batch_list:
            key = f"cached_{'xla' if jit else 'graph'}_batch{batch}"
            out[key] = cached_rate(sampler, batch, conditions(prior, batch))
    cond = conditions(prior, 1)
    sampling.naive_sample_codes(prior, 1, seed=0, steps=2, **cond)  # compile
    start = time.perf_counter()
    sampling.naive_sample_codes(prior, 1, seed=0, steps=naive_tokens, **cond)
    naive = naive_tokens / (time.perf_counter() - start)
    out["naive_batch1"] = {"tokens_per_s": round(naive, 3), "tokens_timed": naive_tokens}
    out["cached_xla_over_naive_batch1"] = round(out["cached_xla_batch1"]["tokens_per_s"] / naive, 1)
    out["cached_graph_over_naive_batch1"] = round(
        out["cached_graph_batch1"]["tokens_per_s"] / naive, 1)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="tiny preset only")
    parser.add_argument("--naive_tokens", type=int, default=4)
    parser.add_argument("--attention", action="store_true",
                        help="compare attention types instead (bench/attention.py)")
    args = parser.parse_args()
    if args.attention:
        import attention

        common.emit(attention.compare())
        return
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
