"""The end-to-end demo on Moving MNIST made offline: `run_demo("runs/demo")`.

`make demo` runs it (`python -m train.demo --workdir=runs/demo`, or
`videogpt-demo` after `pip install`).

Part 1, pretrained (about 2 minutes): the `moving_mnist` presets load the weights
that ship with the package (`keras_videogpt/weights/MODEL_CARD.md` says how
they were trained) and
1. reconstruct held-out clips (`pretrained_reconstructions.gif`: originals
   above, reconstructions below);
2. draw unconditional samples (`pretrained_samples.gif`);
3. continue held-out clips from their first frame
   (`pretrained_continuations.gif`: the real clips above, continuations below);
4. export the unconditional sampler for TF Serving (`serving/videogpt/1`) and
   draw one video from it in a fresh process that imports TensorFlow only
   (`pretrained_served.gif`), checking that it gives the in-process codes;
5. measure FVD, FVD* and R-FVD with the offline I3D on a few held-out clips
   (the counts are printed beside them: too few for a paper figure);
6. draw videos 4x the trained length by a sliding window (`pretrained_long.gif`,
   `keras_videogpt.long_video`), with the digit score of each window.

Part 2, from scratch (about 6 minutes): the `demo` recipe of
`keras_videogpt.presets` trains the tiny VQ-VAE and the two tiny priors in
`scratch/`, then writes `scratch_reconstructions.gif`, `scratch_samples.gif`
and `scratch_continuations.gif`: what a few minutes of CPU training reach.

Every set is scored with a digit classifier trained on digits that no clip
shows (`keras_videogpt.metrics.digits`): the share of frames holding a digit
it is at least 90% sure of, beside the same share for held-out real clips,
and by a second judge with no network (`keras_videogpt.metrics.digit_neighbours`:
a window must look like real digits of one class, by nearest neighbours).
`metrics.json` holds those scores, NMSE, bits/dim, codes used,
sampling times, the FVD report and the served draw's timings, under
`pretrained` and `scratch`. The draws are the first videos of fixed seeds.

Every training stage resumes from its last epoch when the command is run
again after a stop. About 8 minutes on 2 CPU cores after the install (8:20
and 8:23 on 2026-12-01, a day when TF read memory at 32 GB/s against 44-66
GB/s on others); `--quick` runs a few steps of each stage to check the wiring.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

from keras_videogpt import presets, serving
from keras_videogpt.evaluation import format_report, score_models
from keras_videogpt.long_video import sample_long
from keras_videogpt.metrics.digits import digit_score, train_digit_classifier
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.sampling import sample
from keras_videogpt.serving import export_sampler
from keras_videogpt.training import runs
from keras_videogpt.training.prior import train_prior
from keras_videogpt.training.vqvae import train_vqvae
from keras_videogpt.visualize import save_gif, video_grid
from keras_videogpt.vqvae.model import VQVAE


def run_demo(workdir, quick=False, seed=0, verbose="auto", fvd_clips=None):
    """Runs both parts into `workdir`; returns the summary written to `metrics.json`.

    Args:
        workdir: the run's folder (GIFs, `metrics.json`, `scratch/`, `serving/`).
        quick: a few steps per stage and fewer clips, to check the wiring.
        seed: seeds the digit classifier, the held-out clips and the draws.
        verbose: Keras `fit` verbosity of the training stages.
        fvd_clips: clips for FVD (default 16, or 4 when `quick`).

    Example:

    ```python
    from keras_videogpt.demo import run_demo
    summary = run_demo("runs/demo", quick=True)
    summary["pretrained"]["scores"]["digit_score"]["samples"]["score"]
    ```
    """
    os.makedirs(workdir, exist_ok=True)
    classifier = train_digit_classifier(seed=seed)
    results = {"digit_classifier": {"threshold": 0.9,
                                    "held_out_accuracy": classifier.held_out_accuracy}}
    results["pretrained"] = pretrained_part(workdir, quick, seed, classifier, fvd_clips)
    print("pretrained:", _digits(results["pretrained"]))
    results["scratch"] = scratch_part(workdir, quick, seed, classifier, verbose)
    print("from scratch:", _digits(results["scratch"]))
    summary = runs.write_json(os.path.join(workdir, "metrics.json"), results)
    print(f"Wrote {workdir}/metrics.json, pretrained_*.gif, scratch_*.gif and the SavedModel "
          "under serving/videogpt/1")
    return summary


def _digits(part):
    """The digit scores, and the nearest-digit judge's beside them."""
    return {judge: {k: v["score"] for k, v in part["scores"][judge].items()}
            for judge in ("digit_score", "nearest_digit_score")}


def pretrained_part(workdir, quick, seed, classifier, fvd_clips=None):
    """Draws from the shipped `moving_mnist` weights, exports and serves them, scores it all."""
    start = time.time()
    vqvae = VQVAE.from_preset("moving_mnist", weights=True)
    prior = VideoGPT.from_preset("moving_mnist", vqvae, weights=True)
    prior_frame_cond = VideoGPT.from_preset("moving_mnist_frame_cond", vqvae, weights=True)
    # FVD needs far more clips than I3D's 400 dimensions to be comparable; the demo's count
    # keeps it to a minute and shows how it is computed.
    fvd_clips = fvd_clips or (4 if quick else 16)
    scores = score_models(vqvae, prior, prior_frame_cond, "moving_mnist", 2 if quick else 8,
                          fvd_clips, seed, out_dir=workdir, i3d=load_i3d(offline=True),
                          classifier=classifier, prefix="pretrained_")
    print(format_report(scores["fvd"]))
    served = export_and_draw(vqvae, prior, workdir, seed)
    shutil.move(os.path.join(workdir, "served.gif"),
                os.path.join(workdir, "pretrained_served.gif"))
    # --quick checks the wiring with 2x the trained length (3 windows), the demo shows 4x.
    long = long_videos(vqvae, prior, workdir, 1 if quick else 4, seed, classifier,
                       times=2 if quick else 4)
    return {"presets": ["moving_mnist", "moving_mnist_frame_cond"], "scores": scores,
            "served": served, "long_video": long, "seconds": round(time.time() - start, 1)}


def long_videos(vqvae, prior, workdir, count, seed, classifier, times=4):
    """`pretrained_long.gif`: videos `times` the trained length by a sliding window, with the
    digit score of each window's frames, to show whether quality holds over time."""
    began = time.time()
    num_frames = times * vqvae.sequence_length
    out = sample_long(prior, vqvae, num_frames, batch_size=count, seed=seed)
    save_gif(os.path.join(workdir, "pretrained_long.gif"),
             video_grid(out["video_uint8"], ncol=min(count, 4)))
    dt = vqvae.downsample[0]
    per_window = [digit_score(out["video_uint8"][:, a * dt:b * dt], classifier)["score"]
                  for a, b in out["windows"]]
    return {"videos": count, "frames": num_frames, "windows": len(out["windows"]),
            "digit_score": digit_score(out["video_uint8"], classifier)["score"],
            "digit_score_per_window": per_window, "seconds": round(time.time() - began, 1)}


def scratch_part(workdir, quick, seed, classifier, verbose="auto"):
    """Trains the `demo` recipe from scratch in `<workdir>/scratch`, then scores it."""
    start = time.time()
    recipe = presets.recipe("demo_quick" if quick else "demo")
    base = os.path.join(workdir, "scratch")
    stage = recipe["vqvae"]
    _, vq_metrics = train_vqvae(stage["preset"], recipe["data"], base, stage["batch_size"],
                                stage["epochs"], stage["steps_per_epoch"],
                                stage["learning_rate"], num_videos=recipe["num_videos"],
                                seed=recipe["seed"], eval_clips=8, verbose=verbose)
    print("VQ-VAE:", vq_metrics["vqvae"])
    result = {"recipe": "demo_quick" if quick else "demo", "vqvae": vq_metrics["vqvae"]}
    priors = {}
    for name in ("prior", "prior_frame_cond"):
        stage = recipe[name]
        priors[name], vqvae, metrics = train_prior(
            os.path.join(base, "vqvae.keras"), stage["preset"], recipe["data"],
            os.path.join(base, name), stage["batch_size"], stage["epochs"],
            stage["steps_per_epoch"], stage["learning_rate"], num_videos=recipe["num_videos"],
            seed=recipe["seed"], verbose=verbose)
        result[name] = metrics["prior"]
        print(f"{name}:", result[name])
    result["scores"] = score_models(vqvae, priors["prior"], priors["prior_frame_cond"],
                                    recipe["data"], 2 if quick else 8, 0, seed, out_dir=workdir,
                                    classifier=classifier, prefix="scratch_")
    result["seconds"] = round(time.time() - start, 1)
    return result


def export_and_draw(vqvae, prior, workdir, seed):
    """Exports the sampler, draws one video in a fresh TF-only process, checks the codes."""

    base = os.path.join(workdir, "serving", "videogpt")
    shutil.rmtree(os.path.join(base, "1"), ignore_errors=True)  # the demo re-exports
    path = export_sampler(vqvae, prior, base, version=1)
    npz = os.path.join(workdir, "served.npz")
    script = os.path.join(os.path.dirname(os.path.abspath(serving.__file__)),
                          "load_and_sample.py")
    # One call (--repeats=0): its time includes tracing the signature, about a second here.
    out = subprocess.run([sys.executable, script, path, "--seed", str(seed), "0", "--repeats=0",
                          f"--out={npz}"],
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
