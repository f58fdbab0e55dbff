"""The scores of a Moving MNIST VQ-VAE and its two priors, as the model cards and the demo report them."""

import os
import time

import numpy as np

from keras_videogpt.data import sources
from keras_videogpt.evaluation.report import evaluate
from keras_videogpt.metrics import BitsPerDimStats, nmse
from keras_videogpt.metrics.digit_neighbours import NearestDigitJudge
from keras_videogpt.metrics.digits import digit_score, train_digit_classifier
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.sampling import cached_sampler
from keras_videogpt.visualize import save_gif, to_uint8, video_grid


def score_models(vqvae, prior, prior_frame_cond, data="moving_mnist", clips=16, fvd_clips=64,
                 seed=0, out_dir=None, i3d=None, classifier=None, prefix=""):
    """Scores a VQ-VAE and its two priors on held-out clips, as the model card reports them.

    Digit scores (`keras_videogpt.metrics.digits`) of held-out real clips,
    their reconstructions, the first `clips` samples drawn with `seed` and
    the continuations of the first frames of `clips` held-out clips, and the
    same sets' nearest-digit scores (`keras_videogpt.metrics.digit_neighbours`,
    a second judge with no network); NMSE and
    bits/dim of held-out clips; FVD, FVD* and R-FVD with the offline I3D over
    `fvd_clips` clips (0: skipped). With `out_dir`, writes the GIFs there,
    named `<prefix>reconstructions.gif`, `<prefix>samples.gif` and
    `<prefix>continuations.gif` (real clips above, their continuations below).
    `classifier` reuses a trained digit classifier.
    """
    t, h, _, _ = vqvae.video_shape
    real = sources.first_batch(sources.held_out_source(data, clips, t, h, seed=seed), clips)
    out = vqvae.forward(real, training=False)
    recon = np.clip(np.asarray(out["recon"]), -0.5, 0.5)
    classifier = classifier or train_digit_classifier(seed=seed)
    start = time.time()
    samples = cached_sampler(prior, vqvae).sample(clips, [seed, 0])["video_uint8"].numpy()
    sample_seconds = time.time() - start
    start = time.time()
    continued = cached_sampler(prior_frame_cond, vqvae).sample(
        clips, [seed, 0], cond_frames=real[:, :prior_frame_cond.n_cond_frames])
    continued = continued["video_uint8"].numpy()
    continue_seconds = time.time() - start
    judge = NearestDigitJudge()
    sets = {"real": real, "reconstructions": recon, "samples": samples,
            "continuations": continued}
    codes = np.asarray(out["codes"])
    likelihood = {
        "prior": BitsPerDimStats().update(prior, {"codes": codes}),
        "prior_frame_cond": BitsPerDimStats().update(prior_frame_cond, {
            "codes": codes, "cond_frames": real[:, :prior_frame_cond.n_cond_frames]})}
    scores = {
        "held_out_clips": clips, "seed": seed, "threshold": 0.9,
        "classifier_held_out_accuracy": classifier.held_out_accuracy,
        "digit_score": {name: digit_score(videos, classifier) for name, videos in sets.items()},
        "nearest_digit_score": {name: judge.score(videos) for name, videos in sets.items()},
        "nmse": nmse(real, recon),
        "bits_per_dim": {name: stats.result() for name, stats in likelihood.items()},
        # Far below the first step at later ones when a prior predicts from the past.
        "bits_per_dim_by_latent_step": {name: [round(b, 4) for b in stats.by_latent_step()]
                                        for name, stats in likelihood.items()},
        "sampling_seconds": {"samples": round(sample_seconds, 1),
                             "continuations": round(continue_seconds, 1),
                             "note": "both include compiling the sampling loop"},
    }
    if fvd_clips:
        report = evaluate(vqvae, prior, data, fvd_clips, 1, i3d or load_i3d(offline=True),
                          batch_size=min(16, fvd_clips), seed=seed, verbose=False)
        scores["fvd"] = report
    if out_dir:
        ncol = min(8, clips)
        save_gif(os.path.join(out_dir, prefix + "reconstructions.gif"),
                 video_grid(np.concatenate([real[:8], recon[:8]]), ncol=ncol))
        save_gif(os.path.join(out_dir, prefix + "samples.gif"), video_grid(samples[:16], ncol=ncol))
        save_gif(os.path.join(out_dir, prefix + "continuations.gif"),
                 video_grid(np.concatenate([to_uint8(real[:8]), continued[:8]]), ncol=ncol))
    return scores
