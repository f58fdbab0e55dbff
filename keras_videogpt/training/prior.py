"""Training a prior on a frozen VQ-VAE's codes with `fit`, resumably."""

import math
import os
import time

import keras
import tensorflow as tf
from absl import logging

from keras_videogpt import checkpoints, presets
from keras_videogpt.callbacks import VideoSummary
from keras_videogpt.data import codes_dataset, encode_in_pipeline
from keras_videogpt.data import sources
from keras_videogpt.data.codes import check_codes_match
from keras_videogpt.distribute import worker_dir
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.prior.warm_start import warm_start
from keras_videogpt.training import runs


def build_prior(preset, vqvae, **overrides):
    """The prior for `vqvae` from a preset, with flag overrides; clear errors on bad sizes."""
    config = presets.prior_config(preset, **{k: v for k, v in overrides.items() if v is not None})
    return VideoGPT.from_vqvae(vqvae, **config)


def train_prior(vqvae_path, preset, data, workdir, batch_size, epochs, steps_per_epoch,
                learning_rate, codes=None, num_videos=512, seed=0, verbose="auto",
                strategy=None, jit_compile=False, steps_per_execution=1, restart=False,
                skip_corrupt=False, validation_steps=2, video_summary_every=1, init_from=None,
                warmup_steps=0, **overrides):
    """Trains the prior and evaluates bits/dim; returns `(prior, vqvae, metrics)`.

    The final bits/dim reads 4 held-out batches, or 4 training batches for
    pre-encoded `codes`, which have no held-out split (`metrics["prior"]
    ["eval_split"]` says which).

    `batch_size` is global (divided over `strategy`'s replicas). When the codes
    come from `data`, each epoch ends with `validation_steps` held-out batches
    (`val_*` metrics; `best.prior.keras` keeps the lowest `val_loss`) and,
    every `video_summary_every` epochs, a few samples in TensorBoard
    (continuing held-out first frames for frame-conditioned priors). With
    `codes`, there is no held-out split, so neither runs. `init_from`, the
    path of a trained unconditional `prior.keras` of the same size, starts a
    fresh run from its weights (`keras_videogpt.prior.warm_start`); a resumed
    run restores its own. `warmup_steps` ramps the learning rate up first.
    """
    runs.check_schedule(batch_size, epochs, steps_per_epoch)
    strategy = strategy or tf.distribute.get_strategy()
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(f"--batch_size {batch_size} does not divide over "
                         f"{strategy.num_replicas_in_sync} replicas.")
    vqvae = checkpoints.load_vqvae(vqvae_path)
    # Under multi-worker training only the chief writes to --workdir.
    workdir = worker_dir(workdir, strategy)
    runs.prepare_workdir(workdir, "prior.keras", restart)
    keras.utils.set_random_seed(seed)
    with strategy.scope():
        prior = build_prior(preset, vqvae, **overrides)
    runs.check_workdir(workdir, prior.get_config(), dict(
        data=codes or data, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        num_videos=num_videos, seed=seed), dict(
        learning_rate=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch,
        mixed_precision=keras.mixed_precision.global_policy().name,
        warmup_steps=warmup_steps, init_from=init_from and os.path.basename(
            os.path.dirname(os.path.abspath(init_from)))), defaults=runs.init_defaults(VideoGPT))
    # A resumed run goes on where the stopped one was in the data.
    done = runs.resume_batches(workdir, steps_per_epoch)
    if init_from and runs.backup_epoch(workdir) is None:
        new = warm_start(prior, checkpoints.load_prior(init_from, vqvae))
        logging.info("started from %s; new variables: %s", init_from, ", ".join(new))
    if codes:
        meta = check_codes_match(codes, vqvae, logging.warning)
        val_ds = videos = None
        if meta["n_cond_frames"] < prior.n_cond_frames:
            raise ValueError(f"The codes in '{codes}' carry {meta['n_cond_frames']} frames; "
                             f"the prior needs {prior.n_cond_frames}.")
        ds = codes_dataset(codes, batch_size, seed=seed, n_cond_frames=prior.n_cond_frames)
        train_ds = ds.skip(done)
        # Pre-encoded codes have no held-out split: the final bits/dim reads their first batches.
        eval_ds, eval_split = ds, "train"
    else:
        t, h, _, _ = vqvae.video_shape
        videos = sources.video_source(data, batch_size, t, h, num_videos=num_videos, seed=seed,
                                     with_labels=prior.class_cond_dim is not None,
                                     skip_corrupt=skip_corrupt)
        # Skip before encoding: skipped batches then cost no VQ-VAE pass.
        train_ds = encode_in_pipeline(videos.skip(done), vqvae, prior.n_cond_frames)
        # At least the 4 batches that the final bits/dim reads, without repeating a clip.
        held_out = sources.held_out_source(data, batch_size, t, h, seed=seed,
                                          num_videos=max(64, 4 * batch_size),
                                          with_labels=prior.class_cond_dim is not None)
        val_ds = encode_in_pipeline(held_out, vqvae, prior.n_cond_frames)
        eval_ds, eval_split = val_ds, "held-out"
        if video_summary_every:
            clips = sources.first_batch(held_out, 4)
            videos = VideoSummary(None, clips, vqvae, every=video_summary_every,
                                  num_samples=len(clips), seed=seed)
    with strategy.scope():
        prior.compile(optimizer=prior.default_optimizer(epochs * steps_per_epoch, learning_rate,
                                                        warmup_steps),
                      jit_compile=jit_compile, steps_per_execution=steps_per_execution)
    start = time.time()
    if not video_summary_every:
        videos = None
    validate = bool(validation_steps) and val_ds is not None
    try:
        history = prior.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
                            verbose=verbose, validation_data=val_ds if validate else None,
                            validation_steps=validation_steps if validate else None,
                            callbacks=runs.fit_callbacks(workdir, "prior.keras", strategy,
                                                           validation=validate, videos=videos))
    except tf.errors.DataLossError as e:
        raise sources.explain_data_loss(codes or data, e) from None
    prior.save(os.path.join(workdir, "prior.keras"))
    result = prior.evaluate(eval_ds.take(4), verbose=0, return_dict=True)
    metrics = {"prior": {
        "preset": preset, "loss_nats": float(result["loss"]),
        "bits_per_dim": float(result["bits_per_dim"]),
        "uniform_bits_per_dim": math.log2(prior.n_codes),
        "first_epoch_loss": float(history.history["loss"][0]) if history.history else None,
        "train_seconds_this_run": round(time.time() - start, 1),
        "eval_clips": 4 * batch_size, "eval_split": eval_split}}
    runs.write_json(os.path.join(workdir, "metrics.json"), metrics)
    return prior, vqvae, metrics
