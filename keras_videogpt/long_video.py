"""Videos longer than the prior's clips, drawn by a sliding window over latent frames (as TATS).

The prior knows `t` latent frames (its position table ends there). A long video
is drawn window by window: the first window is an ordinary sample; each next
window starts with the last `context` latent frames drawn so far, forced into
the KV cache as a prompt, and draws `t - context` new latent frames after them.
No position beyond the trained table is ever used. The whole latent sequence is
then decoded in one pass (`VQVAE.decode_sequence`): the decoder is
convolutional and attends along time without positions, so there are no seams
between windows in the decoded video; the only temporal boundaries are the
sequence's two ends, zero-padded as in training.

Frame-conditioned priors need a frame for each window. `window_condition="first"`
conditions every window on the real first frame (the digits' look is kept, but
a window far from the start is told about a frame it cannot see);
`"latest"` conditions each window on its own first frame, decoded from the
codes drawn so far (the prior then continues what it sees, as in training).

Example:
>>> out = sample_long(prior, vqvae, num_frames=64, batch_size=2, seed=0)  # doctest: +SKIP
>>> out["video_uint8"].shape  # (2, 64, 64, 64, 3)                       # doctest: +SKIP
"""

import numpy as np

from keras_videogpt import pixels, validation
from keras_videogpt.sampling import cached_sampler


def window_starts(total, window, context):
    """Start latent frame of each window; each window after the first adds `window - context`."""
    step = window - context
    if total < window or (total - window) % step:
        raise ValueError(
            f"{total} latent frames cannot be covered by windows of {window} that each add "
            f"{step}: use a total of {window} + k * {step} latent frames.")
    return list(range(0, total - window + 1, step))


def sample_long(prior, vqvae, num_frames, batch_size=1, seed=0, temperature=1.0, top_k=None,
                top_p=None, context=None, cond_frames=None, label=None,
                window_condition="first", jit_compile=True):
    """Draws `batch_size` videos of `num_frames` frames by a sliding window.

    Args:
        prior: a `VideoGPT` over `vqvae`'s codes.
        vqvae: its `VQVAE`.
        num_frames: video frames; at least the trained clip length, and a
            whole number of windows (an error says which lengths fit).
        batch_size, seed, temperature, top_k, top_p, cond_frames, label: as in
            `keras_videogpt.sample`; the first window is exactly that sample.
        context: latent frames each window keeps from the one before (default
            half the prior's, at least 1); each window adds the rest.
        window_condition: for frame-conditioned priors, `"first"` or
            `"latest"` (see the module docstring).
        jit_compile: compile the sampling loop with XLA.

    Returns:
        `{"codes": int32 [B, n, h, w], "video": float [B, num_frames, H, W, 3],
        "video_uint8", "windows": [(first, last + 1) latent frames of each]}`.
    """
    t, h, w = prior.latent_shape
    dt = vqvae.downsample[0]
    if isinstance(num_frames, bool) or not float(num_frames).is_integer():
        raise ValueError(f"num_frames must be a whole number; got {num_frames}.")
    num_frames = int(num_frames)
    if num_frames < vqvae.sequence_length or num_frames % dt:
        raise ValueError(f"num_frames must be a multiple of {dt} (the VQ-VAE's time stride) "
                         f"and at least the trained {vqvae.sequence_length}; got {num_frames}.")
    context = max(1, t // 2) if context is None else int(context)
    if not 1 <= context < t:
        raise ValueError(f"context must be in [1, {t - 1}] latent frames; got {context}.")
    if window_condition not in ("first", "latest"):
        raise ValueError(f"window_condition must be 'first' or 'latest'; got "
                         f"{window_condition!r}.")
    starts = window_starts(num_frames // dt, t, context)
    sampler = cached_sampler(prior, vqvae, jit_compile)
    batch_size = validation.check_batch_size(batch_size)
    first = sampler.sample_codes(batch_size, seed, temperature, top_k, top_p, cond_frames,
                                 label).numpy()
    codes = np.zeros((batch_size, num_frames // dt, h, w), "int32")
    codes[:, :t] = first
    for k, start in enumerate(starts[1:], 1):
        cond = cond_frames
        if prior.n_cond_frames and window_condition == "latest":
            # The window's first video frames, decoded from the window before, which holds them.
            before = starts[k - 1]
            video = np.asarray(vqvae.decode(codes[:, before:before + t]))
            offset = (start - before) * dt
            cond = np.clip(video[:, offset:offset + prior.n_cond_frames], -0.5, 0.5)
        drawn = sampler.continue_codes(codes[:, start:start + context], seed, temperature,
                                       top_k, top_p, cond, label, draw_offset=k * sampler.length)
        codes[:, start:start + t] = drawn.numpy()
    video = np.clip(np.asarray(vqvae.decode_sequence(codes), "float32"), -0.5, 0.5)
    return {"codes": codes, "video": video, "video_uint8": pixels.to_uint8(video),
            "windows": [(s, s + t) for s in starts]}
