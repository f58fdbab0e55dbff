"""Run a whole training recipe from `keras_videogpt.presets` (VQ-VAE, codes, priors, scores):

    python -m train.recipe --recipe=moving_mnist --workdir=runs/moving_mnist

See `keras_videogpt.training.recipe` for what it does.

Installed as `videogpt-recipe`.
"""

import json

from absl import flags

from keras_videogpt.cli.common import run_command
from keras_videogpt.training.recipe import STAGES, run_recipe

FLAGS = flags.FLAGS


def main(argv):
    del argv
    scores = run_recipe(FLAGS.recipe, FLAGS.workdir, FLAGS.stages, FLAGS.export_dir,
                        FLAGS.score_clips, FLAGS.fvd_clips, FLAGS.seed)
    if scores:
        print(json.dumps({k: v for k, v in scores.items() if k != "fvd"}, indent=1))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("recipe", "moving_mnist", "A recipe in keras_videogpt.presets.recipes().")
    flags.DEFINE_string("workdir", "runs/moving_mnist", "Output folder; reused to resume.")
    flags.DEFINE_list("stages", list(STAGES[:-1]), f"Stages to run, of {', '.join(STAGES)}.")
    flags.DEFINE_string("export_dir", None, "Where the export stage writes the weights files.")
    flags.DEFINE_integer("score_clips", 64, "Held-out clips and draws for the digit scores.")
    flags.DEFINE_integer("fvd_clips", 64, "Clips for the score stage's FVD (0: none).")
    flags.DEFINE_integer("seed", 0, "Seed of the scoring draws.")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
