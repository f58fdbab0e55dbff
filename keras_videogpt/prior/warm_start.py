"""Starting a conditional prior from a trained unconditional one."""

import numpy as np

from keras_videogpt.variable_keys import variable_key


# What the new prior must share with its source: everything but conditioning,
# dropout and memory-saving settings.
ARCHITECTURE = ("embedding_dim", "hidden_dim", "num_heads", "num_layers", "attn_type",
                "sparse_block_size", "sparse_local_blocks", "reference_epsilon")


def warm_start(prior, source):
    """Copies a trained prior's weights into a prior that adds conditioning to it.

    Every variable of `source` must exist in `prior` under the same path with
    the same shape (same hidden size, heads, layers, attention and latent);
    `prior` may add frame conditioning (the ResNet, its position embedding
    and each block's cross-attention). The cross-attentions' output
    projections start at zero, so the warm-started prior computes exactly
    what `source` computes until training teaches it to use the frames:
    training then only has to learn the conditioning, not the video model.

    Args:
      prior: the `VideoGPT` to start, built over the same VQ-VAE.
      source: the trained `VideoGPT` whose weights it starts from.

    Returns:
      The paths of the variables that `source` did not provide.

    Example:

    >>> uncond = keras_videogpt.VideoGPT.from_preset("moving_mnist", vqvae, weights=True)
    >>> prior = keras_videogpt.VideoGPT.from_preset("moving_mnist_frame_cond", vqvae)
    >>> new = warm_start(prior, uncond)     # the ResNet and the cross-attentions
    """
    if tuple(prior.latent_shape) != tuple(source.latent_shape) or prior.n_codes != source.n_codes:
        raise ValueError(f"Cannot warm-start a prior over a {tuple(prior.latent_shape)} grid of "
                         f"{prior.n_codes} codes from one over a {tuple(source.latent_shape)} "
                         f"grid of {source.n_codes} codes.")
    if source.n_cond_frames or source.class_cond_dim:
        raise ValueError("warm_start copies an unconditional prior; the source is conditioned.")
    ours, theirs = prior.get_config(), source.get_config()
    differ = [k for k in ARCHITECTURE if ours[k] != theirs[k]]
    if differ:
        raise ValueError(f"The new prior's {', '.join(differ)} differ from the source prior's "
                         f"({', '.join(f'{k}={theirs[k]!r}' for k in differ)}); only "
                         "conditioning may be added.")
    targets = {variable_key(prior, v): v for v in prior.weights}
    copied = set()
    for variable in source.weights:
        key = variable_key(source, variable)
        target = targets.get(key)
        if target is None:
            raise ValueError(f"The source prior's variable '{key}' has no counterpart in the new "
                             "prior: their hidden size, heads, layers or attention differ.")
        if tuple(target.shape) != tuple(variable.shape):
            raise ValueError(f"Variable '{key}' is {tuple(variable.shape)} in the source prior "
                             f"and {tuple(target.shape)} in the new one.")
        target.assign(variable.value)
        copied.add(key)
    for block in prior.blocks:
        if block.cross_attention:
            for variable in (block.cross_attn.output_kernel, block.cross_attn.output_bias):
                variable.assign(np.zeros(variable.shape, variable.dtype))
    return sorted(k for k in targets if k not in copied)
