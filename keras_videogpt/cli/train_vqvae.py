"""Train a VQ-VAE with `fit`: python -m train.vqvae --preset=tiny --workdir=runs/vqvae

Writes under --workdir: `vqvae.keras` (the model), `backup/` (resume state:
run the same command again after a stop and it goes on from the last epoch),
`logs/` (TensorBoard), `reconstructions.gif` (originals above their
reconstructions) and `metrics.json` (NMSE, perplexity, codes used).

Installed as `videogpt-train-vqvae`.
"""

from absl import flags, logging

from keras_videogpt.cli.common import define_scale_flags, run_command
from keras_videogpt.training import runs
from keras_videogpt.training.vqvae import train_vqvae

FLAGS = flags.FLAGS


def main(argv):
    del argv
    strategy = runs.setup(FLAGS.strategy, FLAGS.tpu, FLAGS.mixed_precision)
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
    define_scale_flags(flags)
    flags.DEFINE_integer("eval_clips", 16, "Clips for NMSE and the GIF.")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
