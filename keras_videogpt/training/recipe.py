"""Running a whole recipe of `keras_videogpt.presets`: VQ-VAE, codes, priors, scores, weights."""

import json
import os
import subprocess
import time

import tensorflow as tf

from keras_videogpt import checkpoints, presets, pretrained
from keras_videogpt.data import sources
from keras_videogpt.data import write_codes
from keras_videogpt.data.codes import CODES_METADATA
from keras_videogpt.evaluation.scores import score_models
from keras_videogpt.training import runs
from keras_videogpt.training.prior import train_prior
from keras_videogpt.training.vqvae import train_vqvae

STAGES = ("vqvae", "codes", "prior", "prior_frame_cond", "score", "export")


def run_recipe(name, workdir, stages=STAGES, export_dir=None, score_clips=64, fvd_clips=64,
               seed=0, verbose="auto"):
    """Runs the `stages` of recipe `name` in `workdir`; returns the scores if scored."""
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
            start, stage = time.time(), config[stage_name]
            train_prior(vqvae_path, stage["preset"], data, os.path.join(workdir, stage_name),
                        stage["batch_size"], stage["epochs"], stage["steps_per_epoch"],
                        stage["learning_rate"], codes=codes_dir, num_videos=num_videos,
                        seed=run_seed, verbose=verbose, init_from=stage.get("init_from") and
                        os.path.join(workdir, stage["init_from"], "prior.keras"),
                        warmup_steps=stage.get("warmup_steps", 0))
            times[stage_name] = time.time() - start
    if times:
        runs.add_seconds(os.path.join(workdir, "stage_seconds.json"), times)
    scores = None
    if "score" in stages:
        vqvae = checkpoints.load_vqvae(vqvae_path)
        priors = {k: checkpoints.load_prior(os.path.join(workdir, k, "prior.keras"), vqvae)
                  for k in ("prior", "prior_frame_cond")}
        scores = score_models(vqvae, priors["prior"], priors["prior_frame_cond"], data,
                              score_clips, fvd_clips, seed, out_dir=workdir)
        runs.write_report(os.path.join(workdir, "scores.json"), scores)
    if "export" in stages:
        scores = scores or json.load(open(os.path.join(workdir, "scores.json")))
        export_weights(name, config, workdir, export_dir, scores)
    return scores


def write_recipe_codes(config, vqvae_path, codes_dir):
    """Encodes the recipe's `code_clips` training clips once (skipped if already written)."""
    if tf.io.gfile.exists(os.path.join(codes_dir, CODES_METADATA)):
        print(f"codes already in {codes_dir}")
        return
    vqvae = checkpoints.load_vqvae(vqvae_path)
    t, h, _, _ = vqvae.video_shape
    batch = 16
    videos = sources.video_source(config["data"], batch, t, h, num_videos=config["code_clips"],
                                 seed=config["seed"])
    write_codes(videos, vqvae, codes_dir, config["code_clips"] // batch, n_cond_frames=1)


def _commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def export_weights(name, config, workdir, export_dir, scores):
    """Writes the recipe's three models as float16 weights files with the run in their headers."""
    os.makedirs(export_dir, exist_ok=True)
    vqvae = checkpoints.load_vqvae(os.path.join(workdir, "vqvae", "vqvae.keras"))
    meta = dict(recipe=name, recipe_config=config, scores=scores, commit=_commit(),
                stage_seconds=runs.read_json(os.path.join(workdir, "stage_seconds.json")))
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
