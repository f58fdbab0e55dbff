"""Convert the reference's PyTorch checkpoints to Keras files:

    python -m export.convert --ckpt=bair_gpt.ckpt --out=runs/bair_gpt

A prior checkpoint (the released `bair_gpt`, `ucf101_uncond_gpt`) writes
`vqvae.keras` and `prior.keras` (its VQ-VAE comes from its own weights); a
VQ-VAE checkpoint writes `vqvae.keras`. Needs torch (`pip install
keras-videogpt[convert]`); files are read with `weights_only=True`, so nothing
in them can run code.

Installed as `videogpt-convert`.
"""

from absl import flags

from keras_videogpt import convert
from keras_videogpt.cli.common import run_command

FLAGS = flags.FLAGS


def main(argv):
    del argv
    config = {}
    if FLAGS.sequence_length:
        config["sequence_length"] = FLAGS.sequence_length
    if FLAGS.resolution:
        config["resolution"] = FLAGS.resolution
    for name, path in convert.convert_checkpoint(FLAGS.ckpt, FLAGS.out, **config).items():
        if path:
            print(f"{name}: {path}")


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("ckpt", None, "Reference checkpoint (.ckpt, .pt or .npz).", required=True)
    flags.DEFINE_string("out", "runs/converted", "Folder for vqvae.keras and prior.keras.")
    flags.DEFINE_integer("sequence_length", None, "Clip length, if the checkpoint lacks it.")
    flags.DEFINE_integer("resolution", None, "Frame size, if the checkpoint lacks it.")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
