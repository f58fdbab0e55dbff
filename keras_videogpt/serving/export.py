"""Exporting a trained VQ-VAE + prior as a SavedModel for TF Serving.

`export_sampler(vqvae, prior, "runs/serving/videogpt", version=1)` (command
line: `python -m export.sampler`, `videogpt-export-sampler`) writes
`runs/serving/videogpt/1/`, the layout `tensorflow_model_server
--model_base_path=runs/serving/videogpt` expects. The graph holds stock TF ops
only (no PyFunc, no XLA-only or custom ops), so it runs in a process that has
never imported keras_videogpt.

Signatures (every input is required, as TF Serving requires):
- `sample` (also `serving_default`): `batch_size` int32 scalar; `seed` int64,
  an int, `[2]` (row r draws with `(seed0 + r, seed1)`) or `[B, 2]` (one pair
  per video; then `batch_size` must equal B); `temperature` float32 > 0;
  `top_k` int32 (0: off); `top_p` float32 in (0, 1]; plus `cond_frames` uint8
  `[B, n, H, W, 3]` for frame-conditioned priors and `label` int32 `[B]` for
  class-conditional ones. Returns `video` uint8 `[B, T, H, W, 3]` and `codes`
  int32 `[B, t, h, w]`. The same seed gives the same codes as
  `keras_videogpt.sample` in Python.
- `encode`: `video` uint8 `[B, T, H, W, 3]` -> `codes`.
- `decode`: `codes` -> `video` uint8.

Bad inputs fail inside the graph with an `InvalidArgumentError` that names the
input. `assets.extra/videogpt.json` records both models' configs, the latent
shape, the frame size, the signatures' inputs and the keras-videogpt version.
"""

import json
import os

import keras
import tensorflow as tf

import keras_videogpt
from keras_videogpt.checkpoints import load_prior, load_vqvae
from keras_videogpt.layers.xla_island import no_islands
from keras_videogpt.masked_sampling import MaskedSampler
from keras_videogpt.prior.masked import MaskedVideoPrior
from keras_videogpt.sampling import Sampler, guided_conditions, seed_rows, video_to_uint8


METADATA = "videogpt.json"


def _check_video(video, shape, what):
    """In-graph: a uint8 `[B, *shape]` video, else InvalidArgumentError naming `what`."""
    expected = " x ".join(map(str, shape))
    checks = [
        tf.debugging.assert_rank(video, 5, message=f"{what} must be uint8 [batch, {expected}]"),
        tf.debugging.assert_equal(tf.shape(video)[1:], tf.constant(shape, tf.int32),
                                  message=f"{what} must be uint8 [batch, {expected}]: wrong "
                                          "frame count, frame size or channels"),
        tf.debugging.assert_positive(tf.shape(video)[0], message=f"{what} has no clips"),
    ]
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(video), (None,) + tuple(shape))


def _check_codes(codes, latent_shape, n_codes):
    checks = [
        tf.debugging.assert_rank(codes, 4, message=f"codes must be int32 [batch, "
                                 f"{', '.join(map(str, latent_shape))}]"),
        tf.debugging.assert_equal(tf.shape(codes)[1:], tf.constant(latent_shape, tf.int32),
                                  message=f"codes must be int32 [batch, "
                                          f"{', '.join(map(str, latent_shape))}]"),
        tf.debugging.assert_non_negative(codes, message=f"codes must lie in [0, {n_codes})"),
        tf.debugging.assert_less(codes, n_codes, message=f"codes must lie in [0, {n_codes})"),
    ]
    with tf.control_dependencies(checks):
        return tf.ensure_shape(tf.identity(codes), (None,) + tuple(latent_shape))


def build_archive(vqvae, prior, max_batch_size=64, steps=12, guidance_scale=1.0,
                  jit_compile=False):
    """A `keras.export.ExportArchive` with the `sample`, `encode` and `decode` endpoints.

    `sample` refuses a `batch_size` above `max_batch_size` in-graph, before it
    allocates anything: a served model otherwise dies of memory on a request
    for 100000 videos. Write it out inside `layers.xla_island.no_islands()`,
    as `export_sampler` does, for a graph of stock TF ops only. `jit_compile`
    marks the sampling loop for XLA (see `export_sampler`).
    """

    masked = isinstance(prior, MaskedVideoPrior)
    guided = float(guidance_scale) != 1.0
    if guided and prior.class_cond_dim is None:
        raise ValueError("guidance_scale needs a class-conditional prior (trained with "
                         "label_dropout).")
    # A masked prior's steps and guidance are fixed here: TF Serving needs every input.
    sampler = MaskedSampler(prior, vqvae, steps) if masked else Sampler(prior, vqvae)
    t, h, w, c = vqvae.video_shape
    archive = keras.export.ExportArchive()
    archive.track(vqvae)
    archive.track(prior)

    # The loop alone, marked for XLA on request; the checks, the conditions' encoder and the
    # decoder stay in TF's executor either way.
    draw = (tf.function(sampler.draw_codes, jit_compile=True, autograph=False)
            if jit_compile else sampler.draw_codes)

    def sample(batch_size, seed, temperature, top_k, top_p, cond_frames=None, label=None):
        checks = [
            tf.debugging.assert_greater_equal(batch_size, 1, message="batch_size must be >= 1"),
            tf.debugging.assert_less_equal(
                batch_size, max_batch_size,
                message=f"batch_size must be <= {max_batch_size}, the maximum set at export"),
            tf.debugging.assert_non_negative(
                seed, message="seed components must be integers in [0, 2**32)"),
            tf.debugging.assert_less(
                seed, tf.constant(2 ** 32, tf.int64),
                message="seed components must be integers in [0, 2**32)"),
            tf.debugging.assert_positive(temperature, message="temperature must be > 0"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0: off)"),
            tf.debugging.assert_less_equal(top_k, prior.n_codes,
                                           message=f"top_k must be <= n_codes ({prior.n_codes})"),
            tf.debugging.assert_equal(tf.logical_and(top_p > 0.0, top_p <= 1.0), True,
                                      message="top_p must be in (0, 1]"),
        ]
        with tf.control_dependencies(checks):
            batch_size = tf.identity(batch_size)
        if cond_frames is not None:
            cond_frames = _check_video(cond_frames, (prior.n_cond_frames,) + prior.frame_shape
                                       + (3,), "cond_frames")
            checks.append(tf.debugging.assert_equal(
                tf.shape(cond_frames)[0], batch_size,
                message="cond_frames must hold batch_size clips"))
        if label is not None:
            checks += [
                tf.debugging.assert_equal(tf.shape(label), tf.reshape(batch_size, [1]),
                                          message="label must be int32 [batch_size]"),
                tf.debugging.assert_non_negative(label, message="label must be >= 0"),
                tf.debugging.assert_less(label, prior.class_cond_dim,
                                         message=f"label must be < {prior.class_cond_dim}")]
        with tf.control_dependencies(checks):
            seeds = seed_rows(seed, batch_size)
        if masked:
            codes = draw(batch_size, seeds, temperature, top_k, top_p, cond_frames, label,
                         guidance_scale)
        else:
            vector, frame_encoding = prior.encode_conditions(cond_frames, label,
                                                             training=False)
            guidance = None
            if guided:
                vector, frame_encoding = guided_conditions(vector, frame_encoding)
                guidance = tf.constant(float(guidance_scale))
            codes = draw(batch_size, seeds, temperature, top_k, top_p, vector, frame_encoding,
                         guidance_scale=guidance)
        return {"video": video_to_uint8(vqvae.decode(codes)), "codes": codes}

    scalar = lambda dtype, name: tf.TensorSpec([], dtype, name=name)
    spec = [scalar(tf.int32, "batch_size"), tf.TensorSpec(None, tf.int64, name="seed"),
            scalar(tf.float32, "temperature"), scalar(tf.int32, "top_k"),
            scalar(tf.float32, "top_p")]
    if prior.n_cond_frames and prior.class_cond_dim is not None:
        fn = sample
        spec += [tf.TensorSpec([None] * 5, tf.uint8, name="cond_frames"),
                 tf.TensorSpec([None], tf.int32, name="label")]
    elif prior.n_cond_frames:
        def fn(batch_size, seed, temperature, top_k, top_p, cond_frames):
            return sample(batch_size, seed, temperature, top_k, top_p, cond_frames=cond_frames)
        spec.append(tf.TensorSpec([None] * 5, tf.uint8, name="cond_frames"))
    elif prior.class_cond_dim is not None:
        def fn(batch_size, seed, temperature, top_k, top_p, label):
            return sample(batch_size, seed, temperature, top_k, top_p, label=label)
        spec.append(tf.TensorSpec([None], tf.int32, name="label"))
    else:
        def fn(batch_size, seed, temperature, top_k, top_p):
            return sample(batch_size, seed, temperature, top_k, top_p)
    # `sample` first: ExportArchive also serves the first endpoint as `serving_default`.
    archive.add_endpoint("sample", fn, input_signature=spec)

    def encode(video):
        video = _check_video(video, (t, h, w, c), "video")
        return {"codes": vqvae.encode(video)}

    def decode(codes):
        codes = _check_codes(codes, vqvae.latent_shape, vqvae.n_codes)
        return {"video": video_to_uint8(vqvae.decode(codes))}

    archive.add_endpoint("encode", encode,
                         input_signature=[tf.TensorSpec([None] * 5, tf.uint8, name="video")])
    archive.add_endpoint("decode", decode, input_signature=[
        tf.TensorSpec([None] * 4, tf.int32, name="codes")])
    return archive


def metadata(vqvae, prior, max_batch_size=64, steps=12, guidance_scale=1.0, jit_compile=False):
    """What a client needs to know about the exported pair (written to assets.extra)."""
    inputs = ["batch_size", "seed", "temperature", "top_k", "top_p"]
    if prior.n_cond_frames:
        inputs.append("cond_frames")
    if prior.class_cond_dim is not None:
        inputs.append("label")
    return {
        "keras_videogpt_version": keras_videogpt.__version__,
        "video_shape": list(vqvae.video_shape), "latent_shape": list(vqvae.latent_shape),
        "frame_size": list(vqvae.video_shape[1:3]), "n_codes": vqvae.n_codes,
        "n_cond_frames": prior.n_cond_frames, "class_cond_dim": prior.class_cond_dim,
        "max_batch_size": int(max_batch_size),
        "xla_loop": bool(jit_compile),
        "sampler": ({"kind": "masked", "steps": int(steps), "guidance_scale": float(guidance_scale)}
                    if isinstance(prior, MaskedVideoPrior) else
                    {"kind": "autoregressive", "guidance_scale": float(guidance_scale)}),
        "signatures": {"sample": {"inputs": inputs, "outputs": ["video", "codes"]},
                       "encode": {"inputs": ["video"], "outputs": ["codes"]},
                       "decode": {"inputs": ["codes"], "outputs": ["video"]}},
        "vqvae_config": vqvae.get_config(), "prior_config": prior.get_config(),
    }


def export_sampler(vqvae, prior, out, version=1, max_batch_size=64, steps=12,
                   guidance_scale=1.0, jit_compile=False):
    """Writes the SavedModel to `out/version/` and returns that path.

    Args:
        vqvae: a `VQVAE`, or the path of its `.keras` file.
        prior: a `VideoGPT` over its codes, or the path of its `.keras` file.
        out: the model's base folder (TF Serving's `--model_base_path`).
        version: a positive integer; an existing version folder is refused.
        max_batch_size: the largest `batch_size` that `sample` accepts.
        steps: a `MaskedVideoPrior`'s parallel steps, fixed in the exported
            graph (the signature stays the autoregressive sampler's).
        guidance_scale: classifier-free guidance of a class-conditional prior
            (autoregressive or masked), fixed in the exported graph.
        jit_compile: mark the sampling loop for XLA (its ops stay stock TF ops).
            TF's Python runtime then compiles it on first call, and so does TF
            Serving started with `--xla_cpu_compilation_enabled=true` (an
            experimental flag); a server without XLA refuses the request. Off
            by default, so that the SavedModel runs on any TF Serving build.
    """
    if isinstance(vqvae, (str, os.PathLike)):
        vqvae = load_vqvae(vqvae)
    if isinstance(prior, (str, os.PathLike)):
        prior = load_prior(prior, vqvae)
    if int(version) < 1:
        raise ValueError(f"version must be a positive integer; got {version}.")
    if int(max_batch_size) < 1:
        raise ValueError(f"max_batch_size must be >= 1; got {max_batch_size}.")
    path = os.path.join(os.fspath(out), str(int(version)))
    if os.path.exists(path):
        raise FileExistsError(f"'{path}' exists; TF Serving versions are immutable, so pick "
                              "another --version.")
    # A served graph holds stock TF ops only: no XLA islands (`layers.xla_island`).
    with no_islands():
        build_archive(vqvae, prior, max_batch_size, steps, guidance_scale,
                      jit_compile).write_out(path, verbose=False)
    extra = os.path.join(path, "assets.extra")
    os.makedirs(extra, exist_ok=True)
    with open(os.path.join(extra, METADATA), "w") as f:
        json.dump(metadata(vqvae, prior, max_batch_size, steps, guidance_scale, jit_compile),
                  f, indent=2, default=lambda v: list(v))
    return path
