"""The end-to-end demo on Moving MNIST made offline (what `make demo` runs):

    python -m train.demo --workdir=runs/demo

1. trains the tiny VQ-VAE (`reconstructions.gif`: originals above reconstructions);
2. trains the tiny prior on its codes, computed inside the input pipeline,
   and samples a grid (`samples.gif`);
3. trains the tiny frame-conditioned prior and continues clips from their
   first frame (`continuations.gif`: the real clips above, continuations below);
4. evaluates the unconditional pair with `train.evaluate`: FVD and R-FVD with
   the offline I3D (a few dozen clips, so the numbers show the wiring, not a
   paper figure: the counts are printed beside them), NMSE and bits/dim;
5. exports the unconditional sampler for TF Serving (`serving/videogpt/1`)
   and draws one video from it in a fresh process that imports TensorFlow
   only (`served.gif`), checking that it gives the in-process codes;
6. scores frames with a digit classifier trained on digits that no clip
   shows (`keras_videogpt.metrics.digits`): the share of frames holding a
   digit it is at least 90% sure of, for held-out real clips,
   reconstructions, samples and continuations;
7. writes `metrics.json`: NMSE, perplexity, codes used, bits/dim, sampling
   tokens/s, the digit scores, the evaluation report and the served draw's
   timings.

Every stage resumes from its last epoch when the command is run again after a
stop. About 7.5 minutes on 2 CPU cores (an AMD EPYC, 2026-11-29); `--quick` runs a few steps of each
stage to check the wiring.
"""

import json
import os

from absl import app, flags

from train import common

FLAGS = flags.FLAGS


def run_demo(workdir, quick=False, seed=0, verbose="auto", fvd_clips=None):
    from keras_videogpt.metrics.i3d import load_i3d
    from train.evaluate import evaluate, format_report
    from train.prior import train_prior
    from train.sample import draw_videos
    from train.vqvae import train_vqvae

    # 800 VQ-VAE steps at lr 1e-3 make reconstructions of held-out clips in which the digit
    # classifier finds a digit in a majority of frames (digit score 0.55, NMSE 0.31, measured
    # 2026-11-29; with 200 steps the reconstructions were blurs, NMSE 0.50).
    steps = dict(vqvae=(2, 2) if quick else (32, 25), prior=(1, 3) if quick else (4, 25))
    batch = 4 if quick else 8
    _, vq_metrics = train_vqvae("tiny", "moving_mnist", workdir, batch, *steps["vqvae"],
                                learning_rate=1e-3, num_videos=64 if quick else 512, seed=seed,
                                eval_clips=8, verbose=verbose)
    print("VQ-VAE:", vq_metrics["vqvae"])
    vqvae_path = os.path.join(workdir, "vqvae.keras")

    results, drawn = {}, {}
    for name, preset in (("prior", "tiny"), ("prior_frame_cond", "tiny_frame_cond")):
        prior_dir = os.path.join(workdir, name)
        prior, vqvae, metrics = train_prior(
            vqvae_path, preset, "moving_mnist", prior_dir, batch, *steps["prior"],
            learning_rate=1e-3, num_videos=64 if quick else 512, seed=seed, verbose=verbose)
        gif = "samples" if preset == "tiny" else "continuations"
        drawn[gif], stats = draw_videos(vqvae, prior, workdir, batch, seed, name=gif)
        results[name] = dict(metrics["prior"], sampling=stats)
        print(f"{name}:", results[name])
        if preset == "tiny":
            unconditional = prior
    # FVD needs far more clips than I3D's 400 dimensions to be comparable; the
    # demo's count keeps it to a couple of minutes and shows how it is computed.
    fvd_clips = fvd_clips or (4 if quick else 16)
    report = evaluate(vqvae, unconditional, "moving_mnist", fvd_clips, 1, load_i3d(offline=True),
                      batch_size=4 if quick else 8, seed=seed, verbose=verbose != 0)
    print(format_report(report))
    results["evaluation"] = report
    results["digit_score"] = digit_scores(vqvae, drawn, seed, batch)
    print("digit score:", {k: v["score"] for k, v in results["digit_score"].items()
                           if isinstance(v, dict)})
    results["served"] = export_and_draw(vqvae, unconditional, workdir, seed)
    print("served:", results["served"])
    summary = common.write_json(os.path.join(workdir, "metrics.json"), results)
    print(f"Wrote {workdir}/metrics.json, reconstructions.gif, samples.gif, continuations.gif, "
          "served.gif and the SavedModel under serving/videogpt/1")
    return summary


def digit_scores(vqvae, drawn, seed, count):
    """The digit score of held-out real clips, their reconstructions, and the drawn videos."""
    import numpy as np

    from keras_videogpt.metrics.digits import digit_score, train_digit_classifier

    classifier = train_digit_classifier(seed=seed)
    t, h, _, _ = vqvae.video_shape
    real = common.first_batch(common.held_out_source("moving_mnist", count, t, h, seed=seed),
                              count)
    recon = np.clip(np.asarray(vqvae(real, training=False)), -0.5, 0.5)
    scores = {"threshold": 0.9, "classifier_held_out_accuracy": classifier.held_out_accuracy,
              "real": digit_score(real, classifier),
              "reconstructions": digit_score(recon, classifier)}
    for name, result in drawn.items():
        scores[name] = digit_score(result["video_uint8"].numpy(), classifier)
    return scores


def export_and_draw(vqvae, prior, workdir, seed):
    """Exports the sampler, draws one video in a fresh TF-only process, checks the codes."""
    import shutil
    import subprocess
    import sys

    import numpy as np

    from export.sampler import export_sampler
    from keras_videogpt import sample
    from keras_videogpt.visualize import save_gif

    base = os.path.join(workdir, "serving", "videogpt")
    shutil.rmtree(os.path.join(base, "1"), ignore_errors=True)  # the demo re-exports
    path = export_sampler(vqvae, prior, base, version=1)
    npz = os.path.join(workdir, "served.npz")
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "export", "load_and_sample.py")
    out = subprocess.run([sys.executable, script, path, "--seed", str(seed), "0", f"--out={npz}"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"The exported sampler failed in a fresh process:\n{out.stderr[-3000:]}")
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    served = np.load(npz)
    expected = sample(prior, None, 1, seed=[seed, 0])["codes"].numpy()
    stats["same_codes_as_in_process"] = bool(np.array_equal(served["codes"], expected))
    if not stats["same_codes_as_in_process"]:
        raise RuntimeError("The exported sampler drew other codes than the in-process one.")
    save_gif(os.path.join(workdir, "served.gif"), served["video"][0])
    stats["path"] = os.path.relpath(path, workdir)  # portable: relative to the run's folder
    return stats


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


if __name__ == "__main__":
    define_flags()
    common.run(main)
