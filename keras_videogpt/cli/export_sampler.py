"""Export a trained VQ-VAE + prior as a SavedModel for TF Serving:

    python -m export.sampler --vqvae=runs/demo/vqvae.keras \
        --prior=runs/demo/prior/prior.keras --out=runs/serving/videogpt --version=1

See `keras_videogpt.serving.export` for what it does.

Installed as `videogpt-export-sampler`.
"""

from absl import flags

from keras_videogpt.cli.common import run_command
from keras_videogpt.serving import export_sampler

FLAGS = flags.FLAGS


def main(argv):
    del argv
    print(export_sampler(FLAGS.vqvae, FLAGS.prior, FLAGS.out, FLAGS.version,
                         FLAGS.max_batch_size, steps=FLAGS.steps,
                         guidance_scale=FLAGS.guidance_scale, jit_compile=FLAGS.jit_compile))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("prior", None, "Trained prior (.keras).", required=True)
    flags.DEFINE_string("out", "runs/serving/videogpt", "Model base folder.")
    flags.DEFINE_integer("version", 1, "Version sub-folder (TF Serving).")
    flags.DEFINE_integer("max_batch_size", 64, "Largest batch_size the sample signature "
                         "accepts (checked in the graph, before any allocation).")
    flags.DEFINE_integer("steps", 12, "A masked prior's parallel decoding steps (fixed in the "
                         "SavedModel).")
    flags.DEFINE_float("guidance_scale", 1.0, "Classifier-free guidance of a class-conditional "
                       "prior trained with label dropout (fixed in the SavedModel; 1: none).")
    flags.DEFINE_boolean("jit_compile", False, "Mark the sampling loop for XLA: several times "
                         "faster, served by TF Serving with --xla_cpu_compilation_enabled=true "
                         "(see docs/serving.md).")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
