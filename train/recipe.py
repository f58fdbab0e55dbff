"""Run a whole training recipe from `keras_videogpt.presets` (VQ-VAE, codes, priors, scores):

    python -m train.recipe --recipe=moving_mnist --workdir=runs/moving_mnist

Stages, in order (`--stages` picks some; each resumes when run again):
- `vqvae`: `train.vqvae` with the recipe's VQ-VAE settings, in `<workdir>/vqvae`;
- `codes`: the recipe's `code_clips` training clips encoded once, with their
  first frames, in `<workdir>/codes` (skipped when the recipe has no
  `code_clips`: the priors then encode in their input pipeline);
- `prior`, `prior_frame_cond`: `train.prior` on those codes, in
  `<workdir>/<stage>`; the two are independent, so on a machine with cores to
  spare they may run at once as two commands with one stage each;
- `score`: the digit score of held-out clips, their reconstructions, samples
  and continuations, NMSE, bits/dim and FVD on held-out clips, in
  `<workdir>/scores.json`;
- `export` (only with `--export_dir`): the three models as float16 weights
  files (`keras_videogpt.pretrained`) with the scores in their headers.

This is how the weights that ship with the package were made (the
`moving_mnist` recipe; see `keras_videogpt/weights/MODEL_CARD.md`).
"""

import json
import os
import subprocess
import time

from absl import flags

from train import common

FLAGS = flags.FLAGS
STAGES = ("vqvae", "codes", "prior", "prior_frame_cond", "score", "export")


def run_recipe(name, workdir, stages=STAGES, export_dir=None, score_clips=16, fvd_clips=64,
               seed=0, verbose="auto"):
    """Runs the `stages` of recipe `name` in `workdir`; returns the scores if scored."""
    from keras_videogpt import presets

    config = presets.recipe(name)
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ValueError(f"Unknown stages {sorted(unknown)}; the stages are {', '.join(STAGES)}.")
    if "export" in stages and not export_dir:
        raise ValueError("The export stage needs --export_dir (e.g. keras_videogpt/weights).")
    os.makedirs(workdir, exist_ok=True)
    vqvae_path = os.path.join(workdir, "vqvae", "vqvae.keras")
    codes_dir = os.path.join(workdir, "codes") if config.get("code_clips") else None
    data, num_videos, run_seed = config["data"], config["num_videos"], config["seed"]
    times = {}
    if "vqvae" in stages:
        from train.vqvae import train_vqvae

        start, stage = time.time(), config["vqvae"]
        train_vqvae(stage["preset"], data, os.path.dirname(vqvae_path), stage["batch_size"],
                    stage["epochs"], stage["steps_per_epoch"], stage["learning_rate"],
                    num_videos=num_videos, seed=run_seed, verbose=verbose)
        times["vqvae"] = time.time() - start
    if "codes" in stages and codes_dir:
        start = time.time()
        write_recipe_codes(config, vqvae_path, codes_dir)
        times["codes"] = time.time() - start
    for stage_name in ("prior", "prior_frame_cond"):
        if stage_name in stages:
            from train.prior import train_prior

            start, stage = time.time(), config[stage_name]
            train_prior(vqvae_path, stage["preset"], data, os.path.join(workdir, stage_name),
                        stage["batch_size"], stage["epochs"], stage["steps_per_epoch"],
                        stage["learning_rate"], codes=codes_dir, num_videos=num_videos,
                        seed=run_seed, verbose=verbose)
            times[stage_name] = time.time() - start
    if times:
        common.write_json(os.path.join(workdir, "stage_seconds.json"),
                          {k: round(v, 1) for k, v in times.items()})
    scores = None
    if "score" in stages:
        from keras_videogpt import checkpoints

        vqvae = checkpoints.load_vqvae(vqvae_path)
        priors = {k: checkpoints.load_prior(os.path.join(workdir, k, "prior.keras"), vqvae)
                  for k in ("prior", "prior_frame_cond")}
        scores = score_models(vqvae, priors["prior"], priors["prior_frame_cond"], data,
                              score_clips, fvd_clips, seed, out_dir=workdir)
        common.write_report(os.path.join(workdir, "scores.json"), scores)
    if "export" in stages:
        scores = scores or json.load(open(os.path.join(workdir, "scores.json")))
        export_weights(name, config, workdir, export_dir, scores)
    return scores


def write_recipe_codes(config, vqvae_path, codes_dir):
    """Encodes the recipe's `code_clips` training clips once (skipped if already written)."""
    import tensorflow as tf

    from keras_videogpt import checkpoints
    from keras_videogpt.data import write_codes
    from keras_videogpt.data.codes import CODES_METADATA

    if tf.io.gfile.exists(os.path.join(codes_dir, CODES_METADATA)):
        print(f"codes already in {codes_dir}")
        return
    vqvae = checkpoints.load_vqvae(vqvae_path)
    t, h, _, _ = vqvae.video_shape
    batch = 16
    videos = common.video_source(config["data"], batch, t, h, num_videos=config["code_clips"],
                                 seed=config["seed"])
    write_codes(videos, vqvae, codes_dir, config["code_clips"] // batch, n_cond_frames=1)


def score_models(vqvae, prior, prior_frame_cond, data="moving_mnist", clips=16, fvd_clips=64,
                 seed=0, out_dir=None, i3d=None, classifier=None, prefix=""):
    """Scores a VQ-VAE and its two priors on held-out clips, as the model card reports them.

    Digit scores (`keras_videogpt.metrics.digits`) of held-out real clips,
    their reconstructions, the first `clips` samples drawn with `seed` and
    the continuations of the first frames of `clips` held-out clips; NMSE and
    bits/dim of held-out clips; FVD, FVD* and R-FVD with the offline I3D over
    `fvd_clips` clips (0: skipped). With `out_dir`, writes the GIFs there,
    named `<prefix>reconstructions.gif`, `<prefix>samples.gif` and
    `<prefix>continuations.gif` (real clips above, their continuations below).
    `classifier` reuses a trained digit classifier.
    """
    import numpy as np

    from keras_videogpt import Sampler
    from keras_videogpt.metrics import nmse
    from keras_videogpt.metrics.digits import digit_score, train_digit_classifier
    from keras_videogpt.visualize import save_gif, to_uint8, video_grid

    t, h, _, _ = vqvae.video_shape
    real = common.first_batch(common.held_out_source(data, clips, t, h, seed=seed), clips)
    out = vqvae.forward(real, training=False)
    recon = np.clip(np.asarray(out["recon"]), -0.5, 0.5)
    classifier = classifier or train_digit_classifier(seed=seed)
    start = time.time()
    samples = Sampler(prior, vqvae).sample(clips, [seed, 0])["video_uint8"].numpy()
    sample_seconds = time.time() - start
    start = time.time()
    continued = Sampler(prior_frame_cond, vqvae).sample(
        clips, [seed, 0], cond_frames=real[:, :prior_frame_cond.n_cond_frames])
    continued = continued["video_uint8"].numpy()
    continue_seconds = time.time() - start
    codes = np.asarray(out["codes"])
    scores = {
        "held_out_clips": clips, "seed": seed, "threshold": 0.9,
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "digit_score": {"real": digit_score(real, classifier),
                        "reconstructions": digit_score(recon, classifier),
                        "samples": digit_score(samples, classifier),
                        "continuations": digit_score(continued, classifier)},
        "nmse": nmse(real, recon),
        "bits_per_dim": {
            "prior": _bits_per_dim(prior, {"codes": codes}),
            "prior_frame_cond": _bits_per_dim(prior_frame_cond, {
                "codes": codes, "cond_frames": real[:, :prior_frame_cond.n_cond_frames]})},
        "sampling_seconds": {"samples": round(sample_seconds, 1),
                             "continuations": round(continue_seconds, 1),
                             "note": "both include compiling the sampling loop"},
    }
    if fvd_clips:
        from keras_videogpt.metrics.i3d import load_i3d
        from train.evaluate import evaluate

        report = evaluate(vqvae, prior, data, fvd_clips, 1, i3d or load_i3d(offline=True),
                          batch_size=16, seed=seed, verbose=False)
        scores["fvd"] = report
    if out_dir:
        ncol = min(8, clips)
        save_gif(os.path.join(out_dir, prefix + "reconstructions.gif"),
                 video_grid(np.concatenate([real[:8], recon[:8]]), ncol=ncol))
        save_gif(os.path.join(out_dir, prefix + "samples.gif"), video_grid(samples[:16], ncol=ncol))
        save_gif(os.path.join(out_dir, prefix + "continuations.gif"),
                 video_grid(np.concatenate([to_uint8(real[:8]), continued[:8]]), ncol=ncol))
    return scores


def _bits_per_dim(prior, batch):
    """Mean negative log-likelihood of the codes in `batch`, in bits per code."""
    import math

    logits = prior(batch, training=False)
    return float(prior.compute_prior_loss(logits, batch["codes"])) / math.log(2)


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def export_weights(name, config, workdir, export_dir, scores):
    """Writes the recipe's three models as float16 weights files with the run in their headers."""
    from keras_videogpt import checkpoints, presets, pretrained

    os.makedirs(export_dir, exist_ok=True)
    vqvae = checkpoints.load_vqvae(os.path.join(workdir, "vqvae", "vqvae.keras"))
    stage_seconds = {}
    path = os.path.join(workdir, "stage_seconds.json")
    if os.path.exists(path):
        stage_seconds = json.load(open(path))
    meta = dict(recipe=name, recipe_config=config, scores=scores, commit=_commit(),
                stage_seconds=stage_seconds)
    written = {}
    for stage in ("vqvae", "prior", "prior_frame_cond"):
        # The file name its preset ships under, or `<recipe>_<stage>.npz`.
        shipped = presets.preset_info("vqvae" if stage == "vqvae" else "prior",
                                      config[stage]["preset"])["weights"]
        filename = os.path.basename(shipped) if shipped else f"{name}_{stage}.npz"
        model = vqvae if stage == "vqvae" else checkpoints.load_prior(
            os.path.join(workdir, stage, "prior.keras"), vqvae)
        target = os.path.join(export_dir, filename)
        pretrained.save_weights(model, target, metadata=dict(meta, stage=stage))
        written[stage] = f"{target} ({os.path.getsize(target) / 1e6:.2f} MB)"
    print("wrote", written)
    return written


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
    flags.DEFINE_integer("score_clips", 16, "Held-out clips and draws for the digit scores.")
    flags.DEFINE_integer("fvd_clips", 64, "Clips for the score stage's FVD (0: none).")
    flags.DEFINE_integer("seed", 0, "Seed of the scoring draws.")


if __name__ == "__main__":
    define_flags()
    common.run(main)
