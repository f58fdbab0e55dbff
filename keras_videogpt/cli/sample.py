"""Draw videos from a trained prior:

    python -m train.sample --vqvae=runs/demo/vqvae.keras --prior=runs/demo/prior.keras \
        --out=runs/samples --batch_size=8 --seed=0 --top_k=0 --top_p=1.0

Writes `samples.gif` (a grid), `codes.npy` and `sampling.json` (tokens/s).
Frame-conditioned priors continue the first frames of held-out clips of --data;
class-conditional priors take --label.

Installed as `videogpt-sample`.
"""

from absl import flags

from keras_videogpt import checkpoints
from keras_videogpt.cli.common import define_sampling_flags, run_command
from keras_videogpt.evaluation import draw_videos

FLAGS = flags.FLAGS


def main(argv):
    del argv

    vqvae = checkpoints.load_vqvae(FLAGS.vqvae)
    prior = checkpoints.load_prior(FLAGS.prior, vqvae)
    _, stats = draw_videos(vqvae, prior, FLAGS.out, FLAGS.batch_size, FLAGS.seed,
                           FLAGS.temperature, FLAGS.top_k, FLAGS.top_p, FLAGS.data, FLAGS.label,
                           FLAGS.jit_compile)
    print(stats)


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("prior", None, "Trained prior (.keras).", required=True)
    flags.DEFINE_string("out", "runs/samples", "Output folder.")
    flags.DEFINE_integer("batch_size", 8, "Videos to draw.")
    flags.DEFINE_integer("seed", 0, "Seed: the same seed gives the same videos.")
    define_sampling_flags(flags)
    flags.DEFINE_string("data", "moving_mnist", "Clips whose first frames condition the prior.")
    flags.DEFINE_integer("label", None, "Class for class-conditional priors.")
    flags.DEFINE_bool("jit_compile", True, "Compile the sampling loop with XLA "
                      "(--nojit_compile: TF's graph executor).")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
