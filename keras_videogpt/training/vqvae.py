"""Training a VQ-VAE with `fit`, resumably, and measuring it on held-out clips."""

import os
import time

import keras
import numpy as np
import tensorflow as tf

from keras_videogpt import presets
from keras_videogpt.callbacks import VideoSummary
from keras_videogpt.data import sources
from keras_videogpt.distribute import worker_dir
from keras_videogpt.metrics import CodeUsageStats, nmse
from keras_videogpt.training import runs
from keras_videogpt.visualize import save_gif, video_grid
from keras_videogpt.vqvae.model import VQVAE


def train_vqvae(preset, data, workdir, batch_size, epochs, steps_per_epoch, learning_rate,
                num_videos=512, seed=0, jit_compile=False, eval_clips=16, verbose="auto",
                strategy=None, steps_per_execution=1, restart=False, skip_corrupt=False,
                validation_steps=2, video_summary_every=1):
    """Trains and evaluates; returns the model and the metrics dict.

    `batch_size` is global: under `strategy` each of its replicas takes
    `batch_size / replicas` clips, and the loss is the mean over the global batch.
    Each epoch ends with `validation_steps` held-out batches (`val_*` metrics;
    `best.vqvae.keras` keeps the lowest `val_loss`) and, every
    `video_summary_every` epochs, held-out reconstructions in TensorBoard.
    """

    config = presets.vqvae_config(preset)  # refuses unknown presets before any work
    runs.check_schedule(batch_size, epochs, steps_per_epoch)
    keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    # Under multi-worker training only the chief writes to --workdir.
    workdir = worker_dir(workdir, strategy)
    os.makedirs(workdir, exist_ok=True)
    model_path = os.path.join(workdir, "vqvae.keras")
    runs.prepare_workdir(workdir, "vqvae.keras", restart)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch_size {batch_size} does not divide over {replicas} replicas.")
    with strategy.scope():
        # Replicas keep BatchNorm statistics in sync, as one device would.
        model = VQVAE(**config, seed=seed, synchronized_bn=replicas > 1)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile,
                      steps_per_execution=steps_per_execution)
    runs.check_workdir(workdir, model.get_config(), dict(
        data=data, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        num_videos=num_videos, seed=seed), dict(
        learning_rate=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch,
        mixed_precision=keras.mixed_precision.global_policy().name),
        defaults=runs.init_defaults(type(model)))
    t, h, w, _ = model.video_shape
    ds = sources.video_source(data, batch_size, t, h, num_videos=num_videos, seed=seed,
                             skip_corrupt=skip_corrupt)
    # A resumed run goes on where the stopped one was in the data.
    ds = ds.skip(runs.resume_batches(workdir, steps_per_epoch))
    eval_ds = sources.held_out_source(data, batch_size, t, h, max(eval_clips, 64), seed)
    real = sources.first_batch(eval_ds, eval_clips)
    videos = None
    if video_summary_every:
        videos = VideoSummary(None, real[:4], every=video_summary_every)
    start = time.time()
    try:
        model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                  validation_data=eval_ds if validation_steps else None,
                  validation_steps=validation_steps or None,
                  callbacks=runs.fit_callbacks(workdir, "vqvae.keras", strategy,
                                                 validation=bool(validation_steps),
                                                 videos=videos))
    except tf.errors.DataLossError as e:
        raise sources.explain_data_loss(data, e) from None
    train_seconds = time.time() - start
    model.save(model_path)

    out = model.forward(real, training=False)
    recon = np.asarray(out["recon"])
    usage = CodeUsageStats(model.n_codes).update(out["codes"]).result()
    metrics = {
        "vqvae": {
            "preset": preset, "data": data, "eval_clips": int(len(real)),
            "nmse": nmse(real, recon),
            "perplexity": usage["perplexity"],
            "codes_used": usage["codes_used"], "n_codes": model.n_codes,
            "train_seconds_this_run": round(train_seconds, 1),
        }
    }
    pairs = np.concatenate([real[:8], np.clip(recon[:8], -0.5, 0.5)])
    save_gif(os.path.join(workdir, "reconstructions.gif"), video_grid(pairs, ncol=min(8, len(real))))
    runs.write_json(os.path.join(workdir, "metrics.json"), metrics)
    return model, metrics
