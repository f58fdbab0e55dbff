"""Sampling in bfloat16 against float32: `python bench/sampling_dtype.py` prints JSON.

On the reference bench's bair prior (hidden 576, 4 heads, 8 layers, 1024 codes
of 256 dims, 4x32x32 latent, random weights with a scaled output layer so
that the code distribution is not flat), for `--attn_types` (default full):

- tokens/s of the cached XLA sampler over the first `--tokens` positions, at
  batch 1 and 8, float32 against `Sampler(..., dtype="bfloat16")`;
- drift of the bf16 model from float32: teacher-forced logits on random
  codes (max and mean |difference|, the mean KL divergence of the code
  distributions in nats, and the share of positions whose most likely code
  changes), and the share of identical codes drawn with the same seed over
  the timed positions.

Random weights say how far rounding moves a model of this size; a trained
model's drift is best checked on its own samples (e.g. the digit score).
"""

import argparse
import time

import common
import numpy as np


def rate(sampler, batch, tokens):
    import tensorflow as tf

    from keras_videogpt import sampling

    seeds = sampling.seed_rows(0, batch)
    controls = (tf.constant(1.0), tf.constant(0), tf.constant(1.0))
    prev, codes, caches, cross = sampler.start(batch, None, None)
    args = (cross, seeds, *controls, None)
    prev, codes, caches = sampler.decode_positions(tf.constant(0), tf.constant(2), prev, codes, caches,
                                         *args)  # compiles
    start = time.perf_counter()
    prev, codes, caches = sampler.decode_positions(tf.constant(2), tf.constant(2 + tokens), prev, codes,
                                         caches, *args)
    codes = codes.numpy()
    return batch * tokens / (time.perf_counter() - start), codes[2:2 + tokens]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--attn_types", default="full")
    parser.add_argument("--tokens", type=int, default=512)
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from keras_videogpt import Sampler, VideoGPT

    result = {"device": "cpu", "prior": "hidden 576, 4 heads, 8 layers, 4x32x32, 1024 codes",
              "tokens_timed": args.tokens, "results": {}}
    for attn_type in args.attn_types.split(","):
        keras.utils.set_random_seed(0)
        prior = VideoGPT(latent_shape=(4, 32, 32), n_codes=1024, embedding_dim=256,
                         hidden_dim=576, num_heads=4, num_layers=8, dropout=0.0, attn_dropout=0.0,
                         attn_type=attn_type)
        rng = np.random.default_rng(0)
        prior.fc_out.kernel.assign(rng.normal(size=prior.fc_out.kernel.shape) * 0.2)
        low = prior.with_dtype("bfloat16")
        codes = tf.constant(rng.integers(0, 1024, (2, 4, 32, 32)).astype("int32"))
        a = prior(codes).numpy().reshape(-1, 1024).astype("float64")
        b = low(codes).numpy().reshape(-1, 1024).astype("float64")
        pa = np.exp(a - a.max(-1, keepdims=True))
        pa /= pa.sum(-1, keepdims=True)
        log_pb = b - b.max(-1, keepdims=True)
        log_pb -= np.log(np.exp(log_pb).sum(-1, keepdims=True))
        kl = (pa * (np.log(pa + 1e-300) - log_pb)).sum(-1)
        row = {"drift": {"max_abs_logit_diff": round(float(np.abs(a - b).max()), 4),
                         "mean_abs_logit_diff": round(float(np.abs(a - b).mean()), 5),
                         "mean_kl_nats": round(float(kl.mean()), 6),
                         "argmax_changed": round(float((a.argmax(-1) != b.argmax(-1)).mean()),
                                                 4)}}
        for batch in (1, 8):
            r32, c32 = rate(Sampler(prior), batch, args.tokens)
            r16, c16 = rate(Sampler(prior, dtype="bfloat16"), batch, args.tokens)
            row[f"batch{batch}"] = {"float32_tokens_per_s": round(r32, 1),
                                    "bfloat16_tokens_per_s": round(r16, 1),
                                    "speedup": round(r16 / r32, 2),
                                    "same_codes": round(float((c32 == c16).mean()), 4)}
        result["results"][attn_type] = row
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
