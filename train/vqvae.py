"""Train a VQ-VAE with `fit`: python -m train.vqvae --preset=tiny --workdir=runs/vqvae

Writes under --workdir: `vqvae.keras` (the model), `backup/` (resume state:
run the same command again after a stop and it goes on from the last epoch),
`logs/` (TensorBoard), `reconstructions.gif` (originals above their
reconstructions) and `metrics.json` (NMSE, perplexity, codes used).
"""

import os
import time

from absl import app, flags, logging

from train import common

FLAGS = flags.FLAGS


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
    import tensorflow as tf
    import keras
    import numpy as np

    from keras_videogpt import VQVAE, presets
    from keras_videogpt.callbacks import VideoSummary
    from keras_videogpt.distribute import worker_dir
    from keras_videogpt.metrics import nmse
    from keras_videogpt.visualize import save_gif, video_grid
    from train import common

    config = presets.vqvae_config(preset)  # refuses unknown presets before any work
    common.check_schedule(batch_size, epochs, steps_per_epoch)
    keras.utils.set_random_seed(seed)
    strategy = strategy or tf.distribute.get_strategy()
    # Under multi-worker training only the chief writes to --workdir.
    workdir = worker_dir(workdir, strategy)
    os.makedirs(workdir, exist_ok=True)
    model_path = os.path.join(workdir, "vqvae.keras")
    common.prepare_workdir(workdir, "vqvae.keras", restart)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(f"--batch_size {batch_size} does not divide over {replicas} replicas.")
    with strategy.scope():
        # Replicas keep BatchNorm statistics in sync, as one device would.
        model = VQVAE(**config, seed=seed, synchronized_bn=replicas > 1)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile,
                      steps_per_execution=steps_per_execution)
    common.check_workdir(workdir, model.get_config(), dict(
        data=data, batch_size=batch_size, steps_per_epoch=steps_per_epoch,
        num_videos=num_videos, seed=seed), dict(
        learning_rate=learning_rate, epochs=epochs, steps_per_epoch=steps_per_epoch,
        mixed_precision=keras.mixed_precision.global_policy().name))
    t, h, w, _ = model.video_shape
    ds = common.video_source(data, batch_size, t, h, num_videos=num_videos, seed=seed,
                             skip_corrupt=skip_corrupt)
    # A resumed run goes on where the stopped one was in the data.
    ds = ds.skip(common.resume_batches(workdir, steps_per_epoch))
    eval_ds = common.held_out_source(data, batch_size, t, h, max(eval_clips, 64), seed)
    real = common.first_batch(eval_ds, eval_clips)
    videos = None
    if video_summary_every:
        videos = VideoSummary(None, real[:4], every=video_summary_every)
    start = time.time()
    try:
        model.fit(ds, epochs=epochs, steps_per_epoch=steps_per_epoch, verbose=verbose,
                  validation_data=eval_ds if validation_steps else None,
                  validation_steps=validation_steps or None,
                  callbacks=common.fit_callbacks(workdir, "vqvae.keras", strategy,
                                                 validation=bool(validation_steps),
                                                 videos=videos))
    except tf.errors.DataLossError as e:
        raise common.explain_data_loss(data, e) from None
    train_seconds = time.time() - start
    model.save(model_path)

    out = model.forward(real, training=False)
    recon = np.asarray(out["recon"])
    counts = np.bincount(np.asarray(out["codes"]).reshape(-1), minlength=model.n_codes)
    probs = counts / counts.sum()
    metrics = {
        "vqvae": {
            "preset": preset, "data": data, "eval_clips": int(len(real)),
            "nmse": nmse(real, recon),
            "perplexity": float(np.exp(-(probs * np.log(probs + 1e-10)).sum())),
            "codes_used": int((counts > 0).sum()), "n_codes": model.n_codes,
            "train_seconds_this_run": round(train_seconds, 1),
        }
    }
    pairs = np.concatenate([real[:8], np.clip(recon[:8], -0.5, 0.5)])
    save_gif(os.path.join(workdir, "reconstructions.gif"), video_grid(pairs, ncol=min(8, len(real))))
    common.write_json(os.path.join(workdir, "metrics.json"), metrics)
    return model, metrics


def main(argv):
    del argv
    strategy = common.setup(FLAGS.strategy, FLAGS.tpu, FLAGS.mixed_precision)
    _, metrics = train_vqvae(FLAGS.preset, FLAGS.data, FLAGS.workdir, FLAGS.batch_size,
                             FLAGS.epochs, FLAGS.steps_per_epoch, FLAGS.learning_rate,
                             FLAGS.num_videos, FLAGS.seed, FLAGS.jit_compile, FLAGS.eval_clips,
                             strategy=strategy, steps_per_execution=FLAGS.steps_per_execution,
                             restart=FLAGS.restart, skip_corrupt=FLAGS.skip_corrupt,
                             validation_steps=FLAGS.validation_steps,
                             video_summary_every=FLAGS.video_summary_every)
    logging.info("VQ-VAE metrics: %s", metrics["vqvae"])
    print(metrics["vqvae"])


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("preset", "tiny", "VQ-VAE preset (see keras_videogpt.presets).")
    flags.DEFINE_string("data", "moving_mnist",
                        "'moving_mnist' (made offline), a folder/glob of TFRecord shards "
                        "(local or gs://), or a TFDS name (bair_robot_pushing_small, ucf101).")
    flags.DEFINE_string("workdir", "runs/vqvae", "Output folder; reused to resume.")
    flags.DEFINE_integer("batch_size", 8, "Global batch size.")
    flags.DEFINE_integer("epochs", 6, "Epochs of --steps_per_epoch steps.")
    flags.DEFINE_integer("steps_per_epoch", 25, "Steps per epoch (a backup is written after each).")
    flags.DEFINE_float("learning_rate", 3e-4, "Adam learning rate (the reference's).")
    flags.DEFINE_integer("num_videos", 512, "Moving MNIST clips to make.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    common.define_scale_flags(flags)
    flags.DEFINE_integer("eval_clips", 16, "Clips for NMSE and the GIF.")


if __name__ == "__main__":
    define_flags()
    common.run(main)
