"""How close the sampler comes to the memory bandwidth bound: `python bench/bandwidth.py`.

At small batches, drawing one token reads every weight of the transformer
once and, per video, the key/value cache of every layer up to the attention's
reach; the arithmetic is small beside those bytes, so tokens/s cannot exceed

    batch * bandwidth / (weight bytes + batch * cache bytes per token).

In one run, this script
1. measures the read bandwidth of this machine as TF sees it (a sum over a
   1 GiB float32 tensor with all of TF's threads, best of 5), and a copy's,
   before and after the sampling, and takes the higher read figure;
2. builds the reference bench's bair prior (hidden 576, 4 heads, 8 layers,
   full attention, or `--attn_type=sparse`, 1024 codes, a 4x32x32 latent,
   random weights);
3. samples whole videos with the compiled XLA sampler at `--batches` and
   reports tokens/s, the bound above (cache bytes averaged over the
   positions, with the segments the sampler reads: see
   `keras_videogpt.sampling.SEGMENTS`; for sparse attention, the key blocks
   a step gathers), the share of it reached, and how much the bound rises
   from the first batch size to the last;
4. with `--breakdown`, splits a step's time at the largest batch size into its
   two parts: the ms per step of each segment (full attention) fitted as a
   line in the positions read, whose slope gives the rate at which the
   steps read the cache and whose intercept is the rest of a step; and the
   weights' products alone at that batch (every kernel of the prior, in one
   compiled loop), with numpy's (its BLAS) on the same matrices as a second
   opinion.

Prints one JSON document.
"""

import argparse
import time

import common
import numpy as np
import tensorflow as tf


def read_bandwidth_gb_s(gib=1.0, repeats=5):
    """Bytes read per second by a reduction over a `gib` GiB float32 tensor (best of repeats)."""
    x = tf.random.uniform((int(gib * 2 ** 28),), dtype=tf.float32)
    total = tf.function(lambda x: tf.reduce_sum(x))
    total(x).numpy()
    best = min(_seconds(lambda: total(x).numpy()) for _ in range(repeats))
    copy = tf.function(lambda x: x * 1.0)
    copy(x).numpy()
    best_copy = min(_seconds(lambda: copy(x).numpy()) for _ in range(repeats))
    nbytes = x.shape[0] * 4
    return round(nbytes / best / 1e9, 1), round(2 * nbytes / best_copy / 1e9, 1)


def _seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def step_weights(prior):
    """The variables a decode step reads: all but the codebook and a frame encoder."""
    return [v for v in prior.weights if "frame_encoder" not in v.path and v is not prior.codebook]


def bytes_per_token(prior, sampler):
    """Weight bytes read once per step, and cache bytes per video per step (averaged)."""
    weight_bytes = sum(int(np.prod(v.shape)) * 4 for v in step_weights(prior))
    # Full attention at position i reads the cache up to its segment's end; sparse attention
    # gathers a fixed number of key blocks.
    if prior.attn_type == "sparse":  # the key blocks of its query block's table row
        layout = prior.blocks[0].attn.layout
        reach = float(layout.block_table()[0].shape[1] * layout.block_size)
    else:
        reach = np.mean([next(e for e in sampler.segment_ends if e >= i + 1)
                         for i in range(sampler.length)])
    cache_bytes = prior.num_layers * 2 * reach * prior.hidden_dim * 4
    return weight_bytes, cache_bytes, float(reach)


def segments(sampler):
    """`(begin, end)` of each of the sampler's cache segments."""
    return list(zip([0] + sampler.segment_ends[:-1], sampler.segment_ends))


def compile_segments(sampler, batch):
    """Compiles the loop of each segment at `batch` on its first position (the loops
    `sample_codes` runs). Returns `decode(begin, stop, end)`, which runs positions `begin`
    to `stop - 1` of the segment ending at `end` from a fresh state and waits for them."""
    from keras_videogpt import sampling

    seeds = sampling.seed_rows(0, batch)
    controls = (tf.constant(1.0), tf.constant(0), tf.constant(1.0))
    state = sampler.start(batch, None, None)

    def decode(begin, stop, end):
        return sampler.decode_positions(tf.constant(begin), tf.constant(stop), *state, seeds,
                                        *controls, None, key_limit=end)[0].numpy()

    for begin, end in segments(sampler):
        decode(begin, begin + 1, end)
    return decode


def time_one_video(sampler, batch):
    """Seconds for a whole video at `batch`, run as one compiled loop per segment, compiled
    first (`compile_segments`)."""
    compile_segments(sampler, batch)
    start = time.perf_counter()
    sampler.sample_codes(batch, seed=1, progress=lambda *_: None,
                         chunks=len(sampler.segment_ends)).numpy()
    return time.perf_counter() - start


def segment_times(sampler, batch, positions=64, repeats=3):
    """ms per step over `positions` positions at the start of each segment (best of repeats),
    with the number of cache positions each reads (the segment's end)."""
    decode = compile_segments(sampler, batch)
    rows = []
    for begin, end in segments(sampler):
        stop = min(end, begin + positions)
        best = min(_seconds(lambda: decode(begin, stop, end)) for _ in range(repeats))
        rows.append((end, best / (stop - begin) * 1e3))
    return rows


def weight_kernels(prior):
    """The prior's kernels a decode step multiplies by, as `[inputs, outputs]` matrices."""
    mats = []
    for v in step_weights(prior):
        if len(v.shape) < 2 or "position" in v.path:
            continue
        value = np.asarray(v.numpy(), "float32")
        # Attention's output kernel is [heads, d, C]; every other kernel is [C, ...].
        shape = (-1, value.shape[-1]) if "output_kernel" in v.path else (value.shape[0], -1)
        mats.append(value.reshape(shape))
    return mats


def weight_products_ms(mats, batch, steps=32, repeats=5):
    """ms per step of every product `x @ W` at `batch` rows, in one compiled loop (XLA), and
    the same products with numpy (its BLAS). The weights are read from memory at every step:
    together they are far larger than the CPU's caches."""
    kernels = [tf.constant(m) for m in mats]
    width = max(m.shape[0] for m in mats)
    x0 = tf.constant(np.random.default_rng(0).normal(size=(batch, width)).astype("float32"))

    def step(x):
        total = tf.add_n([tf.reduce_sum(tf.matmul(x[:, :w.shape[0]], w)) for w in kernels])
        return x + 1e-9 * total  # each step depends on the last: no product is hoisted

    loop = tf.function(lambda x: tf.while_loop(lambda i, x: i < steps,
                                               lambda i, x: (i + 1, step(x)), (0, x))[1],
                       jit_compile=True)
    loop(x0).numpy()
    xla = min(_seconds(lambda: loop(x0).numpy()) for _ in range(repeats)) / steps
    x = x0.numpy()
    numpy_s = min(_seconds(lambda: [x[:, :m.shape[0]] @ m for m in mats])
                  for _ in range(repeats * 4))
    return round(xla * 1e3, 2), round(numpy_s * 1e3, 2)


def breakdown(prior, sampler, batch, read_gb_s, weight_bytes, cache_bytes, reach):
    """A step's time at `batch` split into cache reads and the rest (see the module doc);
    `weight_bytes`, `cache_bytes` and `reach` as `bytes_per_token` gives them."""
    rows = segment_times(sampler, batch)
    ends = np.array([r[0] for r in rows], float)
    ms = np.array([r[1] for r in rows])
    slope, intercept = np.polyfit(ends, ms, 1)
    bytes_per_position = batch * cache_bytes / reach
    xla_ms, numpy_ms = weight_products_ms(weight_kernels(prior), batch)
    return {"batch": batch,
            "ms_per_step_by_segment_end": {int(e): round(float(t), 2) for e, t in rows},
            "cache_read_gb_s_fitted": round(bytes_per_position / (slope * 1e-3) / 1e9, 1),
            "rest_of_step_ms_fitted": round(float(intercept), 2),
            "weights_at_read_bandwidth_ms": round(weight_bytes / (read_gb_s * 1e9) * 1e3, 2),
            "weight_products_ms_xla": xla_ms,
            "weight_products_ms_numpy": numpy_ms,
            "weight_products_gb_s_xla": round(weight_bytes / (xla_ms * 1e-3) / 1e9, 1)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--attn_type", default="full", choices=["full", "sparse"],
                        help="sparse: the reference's strided layout (blocks of 32, 4 local)")
    parser.add_argument("--segments", type=int, default=None,
                        help="cache segments (default: the sampler's own choice)")
    parser.add_argument("--breakdown", action="store_true",
                        help="split a step at the largest batch into cache reads and the rest")
    args = parser.parse_args()
    if args.breakdown and args.attn_type != "full":
        parser.error("--breakdown fits the full attention's segments; use --attn_type=full")

    from keras_videogpt import Sampler, VideoGPT

    # The machine's bandwidth moves between runs (other tenants): measured before and after
    # the sampling, and the higher figure (the stricter bound) is the one used.
    read_before, copy_gb_s = read_bandwidth_gb_s()
    prior = VideoGPT(latent_shape=(4, 32, 32), n_codes=1024, embedding_dim=256, hidden_dim=576,
                     num_heads=4, num_layers=8, dropout=0.0, attn_dropout=0.0,
                     attn_type=args.attn_type)
    prior.fc_out.kernel.assign(np.random.default_rng(0).normal(
        size=prior.fc_out.kernel.shape).astype("float32") * 0.05)
    sampler = Sampler(prior, segments=args.segments)
    weight_bytes, cache_bytes, reach = bytes_per_token(prior, sampler)
    result = {"copy_bandwidth_gb_s": copy_gb_s,
              "prior": f"ref-bair-full: hidden 576, 4 heads, 8 layers, {args.attn_type} "
                       "attention, 4x32x32",
              "weight_mb_per_step": round(weight_bytes / 1e6, 1),
              "cache_mb_per_video_per_step": round(cache_bytes / 1e6, 1),
              "mean_cache_positions_read": round(float(reach), 1),
              "segments": len(sampler.segment_ends), "batches": {}}
    seconds = {}
    for batch in (int(b) for b in args.batches.split(",")):
        seconds[batch] = time_one_video(sampler, batch)
        common.progress(batch, round(seconds[batch], 1), "s")
    read_after, _ = read_bandwidth_gb_s()
    read_gb_s = max(read_before, read_after)
    result.update(read_bandwidth_gb_s=read_gb_s, read_bandwidth_before_after_gb_s=[
        read_before, read_after])
    for batch, secs in seconds.items():
        rate = batch * sampler.length / secs
        bound = batch * read_gb_s * 1e9 / (weight_bytes + batch * cache_bytes)
        result["batches"][batch] = {"tokens_per_s": round(rate, 1),
                                    "bound_tokens_per_s": round(float(bound), 1),
                                    "share_of_bound": round(float(rate / bound), 2),
                                    "seconds_per_batch": round(secs, 1)}
    if args.breakdown:
        result["breakdown"] = breakdown(prior, sampler, max(seconds), read_gb_s, weight_bytes,
                                        cache_bytes, reach)
    bounds = [r["bound_tokens_per_s"] for r in result["batches"].values()]
    result["bound_gain_last_over_first_batch"] = round(bounds[-1] / bounds[0], 2)
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
