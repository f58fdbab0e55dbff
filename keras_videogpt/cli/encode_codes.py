"""Encode a video dataset once with a frozen VQ-VAE and write the codes to TFRecords:

    python -m train.encode_codes --vqvae=runs/demo/vqvae.keras --data=moving_mnist \
        --out=runs/codes --num_batches=64 --cond_frames=1

Then train the prior on them with `python -m train.prior --codes=runs/codes ...`.

Installed as `videogpt-encode-codes`.
"""

from absl import flags

from keras_videogpt import checkpoints
from keras_videogpt.cli.common import run_command
from keras_videogpt.data import sources
from keras_videogpt.data import write_codes

FLAGS = flags.FLAGS


def main(argv):
    del argv

    vqvae = checkpoints.load_vqvae(FLAGS.vqvae)
    t, h, _, _ = vqvae.video_shape
    videos = sources.video_source(FLAGS.data, FLAGS.batch_size, t, h,
                                 num_videos=FLAGS.num_batches * FLAGS.batch_size,
                                 seed=FLAGS.seed, with_labels=FLAGS.labels)
    print(write_codes(videos, vqvae, FLAGS.out, FLAGS.num_batches, FLAGS.cond_frames))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("data", "moving_mnist", "Videos (as in train.vqvae).")
    flags.DEFINE_string("out", "runs/codes", "Output folder (local or gs://).")
    flags.DEFINE_integer("num_batches", 64, "Batches to encode.")
    flags.DEFINE_integer("batch_size", 8, "Batch size.")
    flags.DEFINE_integer("cond_frames", 0, "Also store this many first frames per clip.")
    flags.DEFINE_bool("labels", False, "Keep class labels (TFRecord or TFDS data with labels).")
    flags.DEFINE_integer("seed", 0, "Seed.")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
