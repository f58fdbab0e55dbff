"""Drawing a grid of videos from a trained prior, with GIF, codes and timings written to disk."""

import json
import os
import time

import keras
import numpy as np

from keras_videogpt import sampling
from keras_videogpt.data import sources
from keras_videogpt.sampling import Sampler
from keras_videogpt.visualize import save_gif, to_uint8, video_grid


def draw_videos(vqvae, prior, out, batch_size, seed, temperature=1.0, top_k=0, top_p=1.0,
                data="moving_mnist", label=None, jit_compile=True, name="samples", verbose=True):
    """Samples, writes a GIF grid (with the conditioning clips above, if any); returns stats."""
    sampling.check_controls(temperature, top_k, top_p, prior.n_codes)
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1; got {batch_size}.")
    os.makedirs(out, exist_ok=True)
    cond, real = {}, None
    if prior.n_cond_frames:
        t, h, _, _ = vqvae.video_shape
        # Continue held-out clips: a TFDS name's test split, Moving MNIST of unseen digits.
        real = sources.first_batch(sources.held_out_source(data, batch_size, t, h, seed=seed + 7),
                                  batch_size)
        cond["cond_frames"] = real[:, :prior.n_cond_frames]
    if prior.class_cond_dim is not None:
        if label is None:
            raise ValueError("This prior is class-conditional: pass --label.")
        cond["label"] = np.full((batch_size,), label, "int32")
    elif label is not None:
        raise ValueError(f"--label={label} was given, but this prior is not class-conditional "
                         "(its class_cond_dim is None): leave --label out.")

    sampler = Sampler(prior, vqvae, jit_compile=jit_compile)
    # The first draw compiles the loop and shows a progress bar over the latent positions;
    # the second, the same videos again, is timed for tokens/s.
    bar = keras.utils.Progbar(sampler.length, unit_name="position", verbose=1 if verbose else 0)
    start = time.time()
    sampler.sample_codes(batch_size, seed, temperature, top_k, top_p, **cond,
                         progress=lambda done, total: bar.update(done))
    first_call = time.time() - start
    start = time.time()
    result = sampler.sample(batch_size, seed, temperature, top_k, top_p, **cond,
                            progress=lambda done, total: None)
    seconds = time.time() - start
    video = result["video_uint8"].numpy()
    grid = video if real is None else np.concatenate([to_uint8(real), video])
    save_gif(os.path.join(out, f"{name}.gif"), video_grid(grid, ncol=batch_size))
    np.save(os.path.join(out, f"{name}_codes.npy"), result["codes"].numpy())
    tokens = batch_size * int(np.prod(prior.latent_shape))
    stats = {"batch_size": batch_size, "tokens": tokens, "seconds_with_decode": round(seconds, 3),
             "tokens_per_second": round(tokens / seconds, 1),
             "first_call_seconds": round(first_call, 2), "seed": seed,
             "conditioned_on": sorted(cond)}
    with open(os.path.join(out, f"{name}.json"), "w") as f:
        json.dump(stats, f, indent=1)
    return result, stats
