"""The end-to-end demo on Moving MNIST made offline (what `make demo` runs):

    python -m train.demo --workdir=runs/demo

See `keras_videogpt.demo` for what it does.

Installed as `videogpt-demo`.
"""

from absl import flags

from keras_videogpt.cli.common import run_command
from keras_videogpt.demo import run_demo

FLAGS = flags.FLAGS


def main(argv):
    del argv
    run_demo(FLAGS.workdir, FLAGS.quick, FLAGS.seed, fvd_clips=FLAGS.fvd_clips)


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("workdir", "runs/demo", "Output folder; reused to resume.")
    flags.DEFINE_bool("quick", False, "A few steps per stage, to check the wiring.")
    flags.DEFINE_integer("seed", 0, "Seed.")
    flags.DEFINE_integer("fvd_clips", None, "Clips per set for the demo's FVD (default 16; "
                         "4 with --quick).")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
