"""Cut a folder of videos into TFRecord shards of fixed-length clips:

    python -m train.convert_videos --src=videos/ --dst=runs/clips --sequence_length=16

Sub-folders of --src are classes. Writes `clips-NNNNN.tfrecord` and
`metadata.json` (which names every skipped file and why) into --dst, which
must be empty unless --overwrite is given; `train.vqvae --data=DST` reads them.

Installed as `videogpt-convert-videos`.
"""

from absl import flags

from keras_videogpt.cli.common import run_command
from keras_videogpt.data import convert_video_folder

FLAGS = flags.FLAGS


def main(argv):
    del argv

    report = convert_video_folder(FLAGS.src, FLAGS.dst, FLAGS.sequence_length, FLAGS.resolution,
                                  FLAGS.stride, FLAGS.max_clips_per_video, FLAGS.clips_per_shard,
                                  overwrite=FLAGS.overwrite)
    print({k: report[k] for k in ("num_clips", "num_videos", "num_skipped", "shards")})


def define_flags():
    flags.DEFINE_string("src", None, "Folder of videos (sub-folders: classes).", required=True)
    flags.DEFINE_string("dst", None, "Folder for the shards (local or gs://).", required=True)
    flags.DEFINE_integer("sequence_length", 16, "Frames per clip.")
    flags.DEFINE_integer("resolution", 64, "Frame size (square).")
    flags.DEFINE_integer("stride", None, "Frames between clip starts (default: no overlap).")
    flags.DEFINE_integer("max_clips_per_video", None, "At most this many clips per video.")
    flags.DEFINE_integer("clips_per_shard", 256, "Clips per TFRecord shard.")
    flags.DEFINE_bool("overwrite", False, "Replace the clip shards and metadata.json in --dst.")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
