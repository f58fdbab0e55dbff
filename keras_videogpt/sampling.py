"""Drawing codes from the prior: one compiled while-loop with a KV cache, and a naive check.

`sample(...)` is the entry point. The compiled sampler runs the whole loop
over the `t * h * w` positions inside one `tf.function` (a `tf.while_loop`,
compiled with XLA by default): each step feeds one position through the
blocks, reading keys and values of earlier positions from static-shape caches
that are updated in place (`GridAttention.empty_cache` gives their layouts). Conditioning (frame encoding, its
cross-attention keys and values, the class vector) is computed once.

`naive_sample_codes` recomputes the full teacher-forced forward pass for
every token. It exists to prove the cached sampler right: with the same
seed, both draw the same codes.
"""

import functools

import numpy as np
import tensorflow as tf

from keras_videogpt import pixels
from keras_videogpt import validation


def check_controls(temperature, top_k, top_p, n_codes):
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0; got {temperature}.")
    if top_k is not None and not 0 <= int(top_k) <= n_codes:
        raise ValueError(f"top_k must be in [0, {n_codes}] (0 or None: off); got {top_k}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1] (1 or None: off); got {top_p}.")


def filter_logits(logits, temperature, top_k, top_p):
    """Temperature, then top-k (0 = off), then nucleus top-p (1 = off) on `[B, n]` logits."""
    logits = logits / tf.cast(temperature, logits.dtype)
    # Sorting every step's logits costs about 7% of the tiny sampler's time: only when asked.
    return tf.cond(tf.logical_or(top_k > 0, top_p < 1.0),
                   lambda: _truncate(logits, top_k, top_p), lambda: logits)


def _truncate(logits, top_k, top_p):
    n = tf.shape(logits)[-1]
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")
    k = tf.where(top_k > 0, tf.minimum(top_k, n), n)
    kth = tf.gather(ordered, k - 1, axis=-1)[:, None]
    probs = tf.nn.softmax(ordered, axis=-1)
    keep = (tf.cumsum(probs, axis=-1) - probs) < tf.cast(top_p, probs.dtype)
    pth = tf.reduce_min(tf.where(keep, ordered, tf.fill(tf.shape(ordered), np.inf)),
                        axis=-1, keepdims=True)
    threshold = tf.maximum(kth, pth)
    return tf.where(logits < threshold, tf.constant(-np.inf, logits.dtype), logits)


_MASK32 = 0xFFFFFFFF


def _mul32(x, c):
    """`(x * c) mod 2**32` for int64 `x` in [0, 2**32), without any int64 overflow."""
    lo, hi = tf.bitwise.bitwise_and(x, 0xFFFF), tf.bitwise.right_shift(x, 16)
    high = tf.bitwise.left_shift(tf.bitwise.bitwise_and(hi * c, 0xFFFF), 16)
    return tf.bitwise.bitwise_and(lo * c + high, _MASK32)


def _mix(x):
    """murmur3's 32-bit finaliser on int64 values holding uint32s."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))
    x = _mul32(x, 0x85EBCA6B)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 13))
    x = _mul32(x, 0xC2B2AE35)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, 16))


def hash_uniform(seeds, index, num):
    """Uniforms in (0, 1), `[B, num]`, from per-row seeds `[B, 2]` and a step `index`.

    Counter-based: each value is a hash of (seed, index, column) in 32-bit
    integer arithmetic, so it is bit-identical with and without XLA and on
    every device. TF's own stateless generators pick other algorithms under
    XLA, which would break "same seed, same video" across compilation modes.
    """

    seeds = tf.bitwise.bitwise_and(tf.cast(seeds, tf.int64), _MASK32)
    key = _mix(tf.bitwise.bitwise_and(seeds[:, 0] + 0x9E3779B9, _MASK32))
    key = _mix(tf.bitwise.bitwise_xor(key, seeds[:, 1]))
    key = _mix(tf.bitwise.bitwise_xor(key, tf.cast(index, tf.int64)))
    column = _mul32(tf.range(num, dtype=tf.int64), 0x27D4EB2F)
    bits = _mix(tf.bitwise.bitwise_xor(key[:, None], column[None, :]))
    return (tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) + 0.5) * (1.0 / 16777216.0)


def draw(logits, seeds, index):
    """One code per row of filtered `[B, n]` logits: Gumbel-max on `hash_uniform` noise."""
    u = hash_uniform(seeds, index, tf.shape(logits)[-1])
    gumbel = -tf.math.log(-tf.math.log(u))
    return tf.cast(tf.argmax(tf.cast(logits, tf.float32) + gumbel, axis=-1), tf.int32)


def guided_logits(cond, uncond, guidance_scale):
    """Classifier-free guidance: `uncond + guidance_scale * (cond - uncond)` (1: no guidance)."""
    return uncond + guidance_scale * (cond - uncond)


def guided_conditions(vector, frame_encoding):
    """The encoded conditions of a guided batch: the batch with its classes, then the same batch
    with the null class (`VideoGPT.null_label`, whose conditioning vector is zero)."""
    vector = tf.concat([vector, tf.zeros_like(vector)], 0)
    if frame_encoding is not None:
        frame_encoding = tf.concat([frame_encoding, frame_encoding], 0)
    return vector, frame_encoding


def seed_rows(seed, batch_size):
    """Per-row seeds `[B, 2]` int64 from an int, 2 ints, or one pair per row.

    Row r of a 2-int seed `(s0, s1)` draws with `(s0 + r, s1)`, so row 0 is the
    batch-of-1 video, and the usual seeds 0, 1, 2, ... (an int s is `(0, s)`)
    never share a row's stream. Works eagerly (a bad shape is a `ValueError`)
    and inside graphs of unknown seed rank, such as the exported sampler's
    signature (a bad shape is an `InvalidArgumentError` naming `seed`).
    """

    seed = tf.cast(seed, tf.int64)
    rank = seed.shape.rank
    if rank is not None:
        static_b = batch_size if isinstance(batch_size, int) else None
        if rank > 2 or (rank >= 1 and seed.shape[-1] not in (None, 2)) or (
                rank == 2 and static_b is not None and seed.shape[0] not in (None, static_b)):
            raise ValueError(f"seed must be an int, 2 ints, or a [batch_size, 2] array; got "
                             f"shape {tuple(seed.shape)} for batch_size {batch_size}.")
    batch_size = tf.cast(batch_size, tf.int64)

    def from_int():
        return from_pair(tf.stack([tf.zeros([], tf.int64), tf.reshape(seed, [])]))

    def from_pair(pair=None):
        pair = tf.reshape(seed, [2]) if pair is None else pair
        rows = pair[0] + tf.range(batch_size, dtype=tf.int64)
        return tf.stack([rows, tf.fill([batch_size], pair[1])], -1)

    def given():
        rows = tf.reshape(seed, [-1, 2])
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(rows, out_type=tf.int64)[0], batch_size,
                message="seed must hold one [2] pair per video ([batch_size, 2])")]):
            return tf.identity(rows)

    if rank is not None:
        return (from_int, from_pair, given)[rank]()
    checks = [tf.debugging.assert_less_equal(tf.rank(seed), 2, message="seed must be an int, "
                                             "2 ints, or a [batch_size, 2] array"),
              tf.debugging.assert_equal(tf.concat([[2], tf.shape(seed)], 0)[-1], 2,
                                        message="seed must end in a dimension of 2")]
    with tf.control_dependencies(checks):
        return tf.switch_case(tf.rank(seed), [from_int, from_pair, given])


def video_to_uint8(video):
    """Float video in [-0.5, 0.5] (clipped) -> uint8, in TF ops (the exported graph uses it too)."""
    return pixels.to_uint8(tf.convert_to_tensor(video))


# Full attention over a long latent samples in SEGMENTS loops (`GridAttention.open_segment`):
# loop j reads the keys before its segment, copied once as one tensor, and its segment's own
# rows, 56% of the cache on average, with no per-step copy. Each segment adds a compiled loop
# body and about a second of compile time (bench/README.md has the figures), hence at least
# SEGMENT_POSITIONS positions per segment: up to SEGMENTS of them.
SEGMENTS = 8
SEGMENT_POSITIONS = 256


class Sampler:
    """Samples codes (and videos) from a prior, with compiled functions cached per shape.

    Args:
        prior: a `VideoGPT`.
        vqvae: the VQ-VAE that decodes the codes (optional for codes only).
        jit_compile: compile the sampling loop with XLA (the default). XLA updates
            the KV cache in place, where TF's graph executor copies it on every
            write; `bench/prior.py` measures both.
        segments: loops the positions are split into (see `SEGMENTS`); full
            attention reads only the cache up to its segment's end in each.
            None: one per `SEGMENT_POSITIONS` positions, up to `SEGMENTS`, for
            full attention; else 1.
        dtype: None (the prior's own) or `"bfloat16"`: sample from a bf16
            copy of the prior (weights and KV cache in bf16; LayerNorm
            statistics, softmax and logits in float32). Opt-in: the codes
            then differ from float32's wherever rounding moves a draw (see
            `bench/sampling_dtype.py` for the speed-up and the drift).

    Example:
    >>> sampler = Sampler(prior, vqvae)                              # doctest: +SKIP
    >>> out = sampler.sample(batch_size=4, seed=1, top_k=100)       # doctest: +SKIP
    >>> out["video_uint8"].shape  # (4, 16, 64, 64, 3)                # doctest: +SKIP
    """

    def __init__(self, prior, vqvae=None, jit_compile=True, dtype=None, segments=None):
        if vqvae is not None and (tuple(vqvae.latent_shape) != prior.latent_shape
                                  or vqvae.n_codes != prior.n_codes):
            raise ValueError(f"The VQ-VAE's latent {vqvae.latent_shape} x {vqvae.n_codes} codes "
                             f"does not match the prior's {prior.latent_shape} x "
                             f"{prior.n_codes}.")
        if dtype not in (None, "float32", "bfloat16"):
            raise ValueError(f"dtype must be None, 'float32' or 'bfloat16'; got {dtype!r}.")
        if dtype is not None and dtype != prior.compute_dtype:
            prior = prior.with_dtype(dtype)
        self.prior, self.vqvae, self.dtype = prior, vqvae, dtype
        self.length = int(np.prod(prior.latent_shape))
        if segments is None:
            full = prior.attn_type == "full"
            segments = max(1, min(SEGMENTS, self.length // SEGMENT_POSITIONS)) if full else 1
        if not 1 <= int(segments) <= self.length:
            raise ValueError(f"segments must be in [1, {self.length}]; got {segments}.")
        segments = int(segments)
        self.segment_ends = sorted({int(round(self.length * (j + 1) / segments))
                                    for j in range(segments)})
        compiled = lambda fn: tf.function(fn, jit_compile=jit_compile, reduce_retracing=True)
        self._jit_compile = jit_compile
        self._loops = {}  # the whole loop, compiled once per static setting (`loop`)
        # With a progress callback (and for benchmarks): the same loop, run over chunks of
        # positions; `start` and `decode_positions` are the compiled pieces.
        self.start = compiled(self.start_state)
        self.decode_positions = compiled(self.decode_range)

    def start_state(self, batch_size, vector, frame_encoding, guided=False):
        """The state before position 0: `(prev, codes, caches, cross)` (traceable; `start`
        is its compiled form). `guided` keeps caches for the batch twice over: with its
        classes, then with the null class (see `decode_range`)."""
        caches, cross = self.prior.start_decoding(2 * batch_size if guided else batch_size,
                                                  vector, frame_encoding)
        codes = tf.zeros((self.length, batch_size), tf.int32)
        return tf.zeros((batch_size,), tf.int32), codes, caches, cross

    def decode_range(self, start, stop, prev, codes, caches, cross, seed, temperature, top_k,
                     top_p, vector, key_limit=None, prefix=None, draw_offset=0,
                     guidance_scale=None):
        """Positions `start` to `stop - 1`: one tf.while_loop, caches updated in place.

        `key_limit` (a Python int, one of `segment_ends`) is the end of the
        segment that holds positions `start` to `stop - 1`: full attention reads
        the cache up to there (None: the whole cache, one segment). `prefix`, int32
        `[B, P]`, forces the first P positions to its codes (the cache is filled
        with them, as a prompt); `draw_offset` shifts the index that the random
        draws hash, so that windows of a long video draw afresh. With
        `guidance_scale`, the caches, `vector` and `cross` hold the batch with its
        classes then with the null class, and each draw uses the guided logits.
        Traceable;
        `decode_positions` is its compiled form. Returns `(prev, codes, caches)`.
        """
        prior = self.prior
        forced = 0 if prefix is None else int(prefix.shape[1])

        def body(i, prev, codes, caches):
            if guidance_scale is None:
                logits, caches = prior.decode_step(prev, i, caches, cross, vector)
            else:
                both, caches = prior.decode_step(tf.concat([prev, prev], 0), i, caches, cross,
                                                 vector)
                cond, uncond = tf.split(both, 2)
                logits = guided_logits(cond, uncond, guidance_scale)
            nxt = draw(filter_logits(logits, temperature, top_k, top_p), seed,
                       tf.cast(i, tf.int64) + tf.cast(draw_offset, tf.int64))
            if forced:
                given = tf.gather(prefix, tf.minimum(i, forced - 1), axis=1)
                nxt = tf.where(i < forced, tf.cast(given, tf.int32), nxt)
            codes = tf.tensor_scatter_nd_update(codes, [[i]], nxt[None])
            return i + 1, nxt, codes, caches

        begin, end = 0, self.length
        if key_limit is not None:
            end = int(key_limit)
            if end not in self.segment_ends:
                raise ValueError(f"key_limit must be one of the segments' ends "
                                 f"{self.segment_ends}; got {key_limit}.")
            begin = max([0] + [e for e in self.segment_ends if e < end])
        states = prior.open_segment(caches, begin, end)
        _, prev, codes, states = tf.while_loop(
            lambda i, *_: i < stop, body, (start, prev, codes, states),
            maximum_iterations=self.length)
        return prev, codes, prior.close_segment(caches, states, begin, end)

    def loop(self, batch_size, guided=False, prompt_length=None):
        """The compiled `draw_codes` for one batch size, with or without guidance, and for
        one prompt length (`continue_codes`, which forces that many positions).

        These settings fix the loop's shapes, which XLA needs static, so each has its
        own function, traced once. One function retraced per setting had TF warn of
        "excessive retracing" after a few batch sizes, at a cost that is by design.
        """
        key = (int(batch_size), bool(guided), prompt_length)
        if key not in self._loops:
            # A partial per setting: TF counts the traces of one Python function together.
            self._loops[key] = tf.function(functools.partial(self.draw_codes, key[0]),
                                           jit_compile=self._jit_compile,
                                           reduce_retracing=True)
        return self._loops[key]

    def _key_limit(self, stop):
        """The end of the segment that holds position `stop - 1` (see `SEGMENTS`)."""
        return next(end for end in self.segment_ends if end >= stop)

    def draw_codes(self, batch_size, seed, temperature, top_k, top_p, vector, frame_encoding,
                   prefix=None, draw_offset=0, guidance_scale=None):
        """The whole sampling loop as traceable TF code: codes `[B, t, h, w]` from per-row
        seeds `[B, 2]` (`seed_rows`), the controls as tensors, and the encoded conditions
        (`conditions`); `prefix` and `draw_offset` as in `decode_range`. `sample_codes`
        runs it compiled; `serving.export_sampler` traces it into the SavedModel."""
        prev, codes, caches, cross = self.start_state(batch_size, vector, frame_encoding,
                                                      guided=guidance_scale is not None)
        begin = 0
        for end in self.segment_ends:  # one loop per segment, each reading its cache prefix
            prev, codes, caches = self.decode_range(
                tf.constant(begin), end, prev, codes, caches, cross, seed, temperature, top_k,
                top_p, vector, key_limit=end, prefix=prefix, draw_offset=draw_offset,
                guidance_scale=guidance_scale)
            begin = end
        return tf.reshape(tf.transpose(codes), (batch_size,) + self.prior.latent_shape)

    def _chunked(self, batch_size, seed, temperature, top_k, top_p, vector, frame_encoding,
                 progress, chunks):
        prev, codes, caches, cross = self.start(batch_size, vector, frame_encoding)
        bounds = np.linspace(0, self.length, min(chunks, self.length) + 1).round().astype(int)
        # A call decodes within one segment: split the chunks at the segments' ends too.
        bounds = np.unique(np.concatenate([bounds, self.segment_ends]))
        for start, stop in zip(bounds[:-1], bounds[1:]):
            prev, codes, caches = self.decode_positions(tf.constant(start, tf.int32),
                                              tf.constant(stop, tf.int32), prev, codes, caches,
                                              cross, seed, temperature, top_k, top_p, vector,
                                              key_limit=self._key_limit(stop))
            progress(int(stop), self.length)
        return tf.reshape(tf.transpose(codes), (batch_size,) + self.prior.latent_shape)

    def conditions(self, batch_size, cond_frames=None, label=None):
        """`(cond vector, frame encoding)` of the conditioning inputs (None where unused),
        checked against `batch_size`."""
        if cond_frames is not None and int(np.shape(cond_frames)[0]) != batch_size:
            raise ValueError(f"cond_frames has batch {np.shape(cond_frames)[0]}; "
                             f"batch_size is {batch_size}.")
        if label is not None and np.ndim(label) and int(np.shape(label)[0]) != batch_size:
            raise ValueError(f"label has batch {np.shape(label)[0]}; batch_size is {batch_size}.")
        return self.prior.encode_conditions(cond_frames, label, training=False)

    def sample_codes(self, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
                     cond_frames=None, label=None, progress=None, chunks=32,
                     guidance_scale=1.0):
        """int32 codes `[B, t, h, w]`; the same seed gives the same codes.

        `progress`, a callable `(positions_done, total)`, makes the loop run in
        `chunks` compiled pieces and reports after each; the codes are the same.
        `guidance_scale` != 1 applies classifier-free guidance (class-conditional
        priors trained with `label_dropout`), at twice the cost per step.
        """
        batch_size = validation.check_batch_size(batch_size)
        seed = validation.check_seed(seed)
        check_controls(temperature, top_k, top_p, self.prior.n_codes)
        vector, frame_encoding = self.conditions(batch_size, cond_frames, label)
        guidance = None
        if float(guidance_scale) != 1.0:
            if self.prior.class_cond_dim is None:
                raise ValueError("guidance_scale needs a class-conditional prior.")
            vector, frame_encoding = guided_conditions(vector, frame_encoding)
            guidance = tf.constant(float(guidance_scale))
            if progress is not None:
                raise ValueError("progress is not available with guidance_scale != 1.")
        args = (seed_rows(seed, batch_size), tf.constant(float(temperature)),
                tf.constant(int(top_k or 0)), tf.constant(float(top_p or 1.0)), vector,
                frame_encoding)
        if progress is None:
            return self.loop(batch_size, guided=guidance is not None)(
                *args, guidance_scale=guidance)
        return self._chunked(batch_size, *args, progress, chunks)

    def continue_codes(self, prefix, seed=0, temperature=1.0, top_k=None, top_p=None,
                       cond_frames=None, label=None, draw_offset=0):
        """Codes `[B, t, h, w]` whose first latent frames are `prefix` (int `[B, k, h, w]`,
        k < t) and whose other frames are drawn after them, as the next window of a long
        video (see `keras_videogpt.long_video`). `draw_offset` gives each window its own
        draws; with the same seed and offset, the same codes."""
        prefix = np.asarray(prefix)
        t, h, w = self.prior.latent_shape
        if prefix.ndim != 4 or prefix.shape[2:] != (h, w) or not 1 <= prefix.shape[1] < t:
            raise ValueError(f"prefix must be int codes [batch, k, {h}, {w}] with 1 <= k < {t} "
                             f"latent frames; got shape {prefix.shape}.")
        validation.check_codes(prefix, (prefix.shape[1], h, w), self.prior.n_codes)
        batch_size = int(prefix.shape[0])
        seed = validation.check_seed(seed)
        check_controls(temperature, top_k, top_p, self.prior.n_codes)
        vector, frame_encoding = self.conditions(batch_size, cond_frames, label)
        return self.loop(batch_size, prompt_length=int(np.prod(prefix.shape[1:])))(
            seed_rows(seed, batch_size), tf.constant(float(temperature)),
            tf.constant(int(top_k or 0)), tf.constant(float(top_p or 1.0)), vector,
            frame_encoding, prefix=tf.constant(prefix.reshape(batch_size, -1), tf.int32),
            draw_offset=tf.constant(int(draw_offset), tf.int64))

    def sample(self, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
               cond_frames=None, label=None, progress=None, guidance_scale=1.0):
        """Codes and decoded video: a dict with `codes` int32 `[B, t, h, w]`, `video`
        float32 `[B, T, H, W, 3]` in [-0.5, 0.5] and `video_uint8`."""
        if self.vqvae is None:
            raise ValueError("Decoding needs the VQ-VAE: Sampler(prior, vqvae).")
        codes = self.sample_codes(batch_size, seed, temperature, top_k, top_p, cond_frames, label,
                                  progress, guidance_scale=guidance_scale)
        video = tf.clip_by_value(tf.cast(self.vqvae.decode(codes), tf.float32), -0.5, 0.5)
        return {"codes": codes, "video": video, "video_uint8": video_to_uint8(video)}


def cached_sampler(prior, vqvae=None, jit_compile=True):
    """The `Sampler` of this prior and VQ-VAE, made once and kept on the prior, so that
    repeated `sample` calls reuse its compiled loop instead of compiling again."""
    samplers = prior.__dict__.get("_cached_samplers")
    if samplers is None:
        samplers = {}
        object.__setattr__(prior, "_cached_samplers", samplers)  # untracked by Keras
    key = (id(vqvae), bool(jit_compile))
    if key not in samplers or samplers[key].vqvae is not vqvae:
        samplers[key] = Sampler(prior, vqvae, jit_compile=jit_compile)
    return samplers[key]


def sample(prior, vqvae=None, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
           cond_frames=None, label=None, jit_compile=True, guidance_scale=1.0):
    """Draws `batch_size` videos (or codes only, without `vqvae`) in one compiled loop.

    Args:
        prior: a `VideoGPT`.
        vqvae: its VQ-VAE; without it, only codes are returned.
        batch_size: videos to draw.
        seed: an int, 2 ints, or one pair per video (`[batch_size, 2]`); the
            same seed gives the same videos, with or without XLA.
        temperature: > 0.
        top_k: keep the k most likely codes (None/0: all).
        top_p: keep the smallest set of codes whose probability reaches p
            (None/1: all).
        cond_frames: `[B, n, H, W, 3]` first frames, for frame-conditioned priors.
        label: int `[B]` classes, for class-conditional priors.
        jit_compile: compile the loop with XLA (default; see `Sampler`).
        guidance_scale: classifier-free guidance for class-conditional priors
            trained with `label_dropout` (1: none); see `guided_logits`.

    Returns:
        `{"codes", "video", "video_uint8"}` (see `Sampler.sample`), or
        `{"codes"}` without a VQ-VAE.
    """

    sampler = cached_sampler(prior, vqvae, jit_compile)
    if vqvae is None:
        return {"codes": sampler.sample_codes(batch_size, seed, temperature, top_k, top_p,
                                              cond_frames, label,
                                              guidance_scale=guidance_scale)}
    return sampler.sample(batch_size, seed, temperature, top_k, top_p, cond_frames, label,
                          guidance_scale=guidance_scale)


def naive_sample_codes(prior, batch_size=1, seed=0, temperature=1.0, top_k=None, top_p=None,
                       cond_frames=None, label=None, steps=None, guidance_scale=1.0):
    """The reference's way: a full forward pass per token, from a Python loop.

    Draws with the same seeds as the compiled sampler, so both give the same
    codes. `steps` stops after that many positions (for timing); the rest
    stay 0. `guidance_scale` != 1 runs a second pass with the null class and
    guides the logits, as the compiled sampler does.
    """
    check_controls(temperature, top_k, top_p, prior.n_codes)
    batch_size = validation.check_batch_size(batch_size)
    length = int(np.prod(prior.latent_shape))
    seed_t = seed_rows(validation.check_seed(seed), batch_size)
    batch = {}
    if cond_frames is not None:
        batch["cond_frames"] = tf.convert_to_tensor(cond_frames)
    if label is not None:
        batch["label"] = tf.convert_to_tensor(label)

    @tf.function(reduce_retracing=True)
    def step(codes, i):
        logits = tf.reshape(prior(dict(batch, codes=codes), training=False),
                            (batch_size, length, prior.n_codes))
        logits = tf.gather(logits, i, axis=1)
        if guidance_scale != 1.0:
            null = dict(batch, codes=codes, label=tf.fill([batch_size], prior.null_label))
            uncond = tf.reshape(prior(null, training=False), (batch_size, length, prior.n_codes))
            logits = guided_logits(logits, tf.gather(uncond, i, axis=1), guidance_scale)
        return draw(filter_logits(logits, float(temperature), int(top_k or 0),
                                  float(top_p or 1.0)), seed_t, i)

    codes = np.zeros((batch_size, length), "int32")
    for i in range(length if steps is None else steps):
        codes[:, i] = step(codes.reshape((batch_size,) + prior.latent_shape),
                           tf.constant(i)).numpy()
    return codes.reshape((batch_size,) + prior.latent_shape)
