"""Train the prior on a frozen VQ-VAE's codes:

    python -m train.prior --vqvae=runs/demo/vqvae.keras --preset=tiny --workdir=runs/prior

Codes are computed inside the input pipeline from --data, or read from
--codes (a folder written by `python -m train.encode_codes`). Writes
`prior.keras`, `backup/` (run again to resume), `logs/` and `metrics.json`
(loss and bits/dim). Refuses, before any training, a --vqvae that is missing
or holds another model, a --workdir that holds a run of another prior, a
latent grid that does not match, and a width that is not divisible by 3 and
by --num_heads.

Installed as `videogpt-train-prior`.
"""

from absl import flags, logging

from keras_videogpt.cli.common import define_scale_flags, run_command
from keras_videogpt.training import runs
from keras_videogpt.training.prior import train_prior

FLAGS = flags.FLAGS


def main(argv):
    del argv
    strategy = runs.setup(FLAGS.strategy, FLAGS.tpu, FLAGS.mixed_precision)
    _, _, metrics = train_prior(
        FLAGS.vqvae, FLAGS.preset, FLAGS.data, FLAGS.workdir, FLAGS.batch_size, FLAGS.epochs,
        FLAGS.steps_per_epoch, FLAGS.learning_rate, codes=FLAGS.codes,
        num_videos=FLAGS.num_videos, seed=FLAGS.seed, hidden_dim=FLAGS.hidden_dim,
        num_heads=FLAGS.num_heads, num_layers=FLAGS.num_layers, attn_type=FLAGS.attn_type,
        gradient_checkpointing=FLAGS.gradient_checkpointing or None, strategy=strategy,
        jit_compile=FLAGS.jit_compile, steps_per_execution=FLAGS.steps_per_execution,
        restart=FLAGS.restart, skip_corrupt=FLAGS.skip_corrupt,
        validation_steps=FLAGS.validation_steps, video_summary_every=FLAGS.video_summary_every,
        init_from=FLAGS.init_from)
    logging.info("prior metrics: %s", metrics["prior"])
    print(metrics["prior"])


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Path of the trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("preset", "tiny", "Prior preset (see keras_videogpt.presets).")
    flags.DEFINE_string("data", "moving_mnist", "Videos to encode on the fly (as train.vqvae).")
    flags.DEFINE_string("codes", None, "Folder of pre-encoded codes; overrides --data.")
    flags.DEFINE_string("init_from", None, "A trained unconditional prior.keras to start a "
                        "conditioned prior of the same size from (a fresh run only).")
    flags.DEFINE_string("workdir", "runs/prior", "Output folder; reused to resume.")
    flags.DEFINE_integer("batch_size", 8, "Global batch size.")
    flags.DEFINE_integer("epochs", 4, "Epochs.")
    flags.DEFINE_integer("steps_per_epoch", 50, "Steps per epoch.")
    flags.DEFINE_float("learning_rate", 3e-4, "Peak Adam learning rate (cosine decay to 0).")
    flags.DEFINE_integer("hidden_dim", None, "Override the preset's width.")
    flags.DEFINE_integer("num_heads", None, "Override the preset's attention heads.")
    flags.DEFINE_integer("num_layers", None, "Override the preset's depth.")
    flags.DEFINE_enum("attn_type", None, ["full", "sparse", "axial"],
                      "Override the attention type.")
    flags.DEFINE_bool("gradient_checkpointing", False, "Recompute blocks in the backward pass.")
    flags.DEFINE_integer("num_videos", 512, "Moving MNIST clips to make.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    define_scale_flags(flags)


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
