"""Evaluate a VQ-VAE and prior pair: FVD (mean ± std over trials), R-FVD, NMSE, bits/dim.

    python -m train.evaluate --vqvae=runs/demo/vqvae.keras --prior=runs/demo/prior.keras \
        --data=bair_robot_pushing_small --num_clips=2048 --trials=4 --out=runs/eval.json

See `keras_videogpt.evaluation.report` for what it does.

Installed as `videogpt-evaluate`.
"""

import os

from absl import flags

from keras_videogpt.checkpoints import load_prior, load_vqvae
from keras_videogpt.cli.common import define_sampling_flags, run_command
from keras_videogpt.evaluation import PROTOCOLS, evaluate, format_report
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.training import runs

FLAGS = flags.FLAGS


def main(argv):
    del argv

    if FLAGS.out:
        runs.check_report_path(FLAGS.out)  # before minutes of evaluation, not after
    vqvae = load_vqvae(FLAGS.vqvae)
    prior = load_prior(FLAGS.prior, vqvae) if FLAGS.prior else None
    i3d = load_i3d(offline=True) if FLAGS.i3d == "offline" else load_i3d(FLAGS.i3d)
    num_clips, trials = FLAGS.num_clips, FLAGS.trials
    if FLAGS.protocol:  # the protocol's counts, unless given on the command line
        asked = PROTOCOLS.get(FLAGS.protocol, {})
        num_clips = num_clips if FLAGS["num_clips"].present else asked.get("num_clips", num_clips)
        trials = trials if FLAGS["trials"].present else asked.get("trials", trials)
    report = evaluate(vqvae, prior, FLAGS.data, num_clips, trials, i3d,
                      FLAGS.batch_size, FLAGS.i3d_batch_size, FLAGS.seed, FLAGS.temperature,
                      FLAGS.top_k, FLAGS.top_p, split=FLAGS.split, protocol=FLAGS.protocol,
                      stats_cache=FLAGS.stats_cache)
    # File names, not paths: a report says what was measured, not where it sat.
    report.update(vqvae=os.path.basename(FLAGS.vqvae),
                  prior=os.path.basename(FLAGS.prior) if FLAGS.prior else None)
    if FLAGS.out:
        runs.write_report(FLAGS.out, report)
    print(format_report(report))


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("prior", None, "Trained prior (.keras); without it, no sampling FVD.")
    flags.DEFINE_string("data", "moving_mnist", "Real clips: moving_mnist, TFRecord shards "
                        "(local or gs://) or a TFDS name.")
    flags.DEFINE_integer("num_clips", 2048, "Real and generated clips per trial (default: the "
                         "protocol's, if one is given).")
    flags.DEFINE_enum("split", "test", ["test", "train"], "Held-out clips (test) or training "
                      "clips.")
    flags.DEFINE_enum("protocol", None, sorted(PROTOCOLS), "A published FVD protocol: sets "
                      "--num_clips and --trials, and the report says if the run is comparable.")
    flags.DEFINE_integer("trials", 1, "FVD repeats (mean ± std).")
    flags.DEFINE_string("i3d", None, "TF-Hub handle, local SavedModel folder, or 'offline' "
                        "(default: deepmind/i3d-kinetics-400/1).")
    flags.DEFINE_integer("batch_size", 16, "Clips per sampling and data batch.")
    flags.DEFINE_integer("i3d_batch_size", None, "Clips per I3D call (default: by memory).")
    flags.DEFINE_integer("seed", 0, "Base seed (trial k uses seed + k).")
    define_sampling_flags(flags)
    flags.DEFINE_string("out", None, "JSON report to write.")
    flags.DEFINE_string("stats_cache", None, "Folder that keeps the I3D statistics of real "
                        "clips and reconstructions for later runs (local or gs://).")


def run():
    """The console script: defines the flags, parses them, runs `main`."""
    run_command(main, define_flags)


if __name__ == "__main__":
    run()
