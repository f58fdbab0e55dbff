"""Draw videos from a trained prior:

    python -m train.sample --vqvae=runs/demo/vqvae.keras --prior=runs/demo/prior.keras \
        --out=runs/samples --batch_size=8 --seed=0 --top_k=0 --top_p=1.0

Writes `samples.gif` (a grid), `codes.npy` and `sampling.json` (tokens/s).
Frame-conditioned priors continue the first frames of held-out clips of --data;
class-conditional priors take --label.
"""

import json
import os
import time

from absl import app, flags

from train import common

FLAGS = flags.FLAGS


def draw_videos(vqvae, prior, out, batch_size, seed, temperature=1.0, top_k=0, top_p=1.0,
                data="moving_mnist", label=None, jit_compile=True, name="samples", verbose=True):
    """Samples, writes a GIF grid (with the conditioning clips above, if any); returns stats."""
    import numpy as np

    from keras_videogpt import Sampler, sampling
    from keras_videogpt.visualize import save_gif, to_uint8, video_grid
    from train import common

    sampling.check_controls(temperature, top_k, top_p, prior.n_codes)
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1; got {batch_size}.")
    os.makedirs(out, exist_ok=True)
    cond, real = {}, None
    if prior.n_cond_frames:
        t, h, _, _ = vqvae.video_shape
        # Continue held-out clips: a TFDS name's test split, Moving MNIST of unseen digits.
        real = common.first_batch(common.held_out_source(data, batch_size, t, h, seed=seed + 7),
                                  batch_size)
        cond["cond_frames"] = real[:, :prior.n_cond_frames]
    if prior.class_cond_dim is not None:
        if label is None:
            raise ValueError("This prior is class-conditional: pass --label.")
        cond["label"] = np.full((batch_size,), label, "int32")
    elif label is not None:
        raise ValueError(f"--label={label} was given, but this prior is not class-conditional "
                         "(its class_cond_dim is None): leave --label out.")
    import keras

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


def main(argv):
    del argv
    from keras_videogpt import checkpoints

    vqvae = checkpoints.load_vqvae(FLAGS.vqvae)
    prior = checkpoints.load_prior(FLAGS.prior, vqvae)
    _, stats = draw_videos(vqvae, prior, FLAGS.out, FLAGS.batch_size, FLAGS.seed,
                           FLAGS.temperature, FLAGS.top_k, FLAGS.top_p, FLAGS.data, FLAGS.label,
                           FLAGS.jit_compile)
    print(stats)


def define_flags():
    """This command's flags, defined only when it runs so that the modules import cleanly."""
    flags.DEFINE_string("vqvae", None, "Trained VQ-VAE (.keras).", required=True)
    flags.DEFINE_string("prior", None, "Trained prior (.keras).", required=True)
    flags.DEFINE_string("out", "runs/samples", "Output folder.")
    flags.DEFINE_integer("batch_size", 8, "Videos to draw.")
    flags.DEFINE_integer("seed", 0, "Seed: the same seed gives the same videos.")
    flags.DEFINE_float("temperature", 1.0, "Softmax temperature (> 0).")
    flags.DEFINE_integer("top_k", 0, "Keep the k most likely codes (0: off).")
    flags.DEFINE_float("top_p", 1.0, "Nucleus sampling mass in (0, 1] (1: off).")
    flags.DEFINE_string("data", "moving_mnist", "Clips whose first frames condition the prior.")
    flags.DEFINE_integer("label", None, "Class for class-conditional priors.")
    flags.DEFINE_bool("jit_compile", True, "Compile the sampling loop with XLA "
                      "(--nojit_compile: TF's graph executor).")


if __name__ == "__main__":
    define_flags()
    common.run(main)
