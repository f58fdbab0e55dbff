"""Load the reference PyTorch VideoGPT's weights into our models.

The reference is channels-first PyTorch; we are channels-last Keras. Each
reference tensor name maps to one of our variables and a layout change:

- Conv3d `(out, in, kT, kH, kW)` -> `(kT, kH, kW, in, out)`;
- ConvTranspose3d `(in, out, kT, kH, kW)` -> `(kT, kH, kW, out, in)`;
- attention Linear `(heads * d, in)` -> `(in, heads, d)`, output `(out, heads * d)`
  -> `(heads, d, out)`;
- BatchNorm weight/bias/running_mean/running_var -> gamma/beta/moving_mean/
  moving_variance (`num_batches_tracked` is not needed);
- the codebook's `embeddings`, `N`, `z_avg` -> `embeddings`, `cluster_size`,
  `embedding_sum`.

Every reference key must be used and every variable filled, or a `KeyError`
names what is missing or left over.
"""

import os

import numpy as np

from keras_videogpt import torch_checkpoint
from keras_videogpt.prior.model import VideoGPT
from keras_videogpt.vqvae.model import VQVAE

_IGNORED_SUFFIXES = ("num_batches_tracked", "attn.attn.mask")


def _read_npz(path):
    with np.load(path, allow_pickle=False) as data:
        prefixed = any(k.startswith("state/") for k in data.files)
        return {k[len("state/"):] if prefixed else k: data[k] for k in data.files
                if not prefixed or k.startswith("state/")}


def read_reference(source):
    """`(state_dict, hyper_parameters)` of a reference checkpoint, read once.

    Args:
        source: a mapping of names to arrays or tensors; a `.npz` file (names
            under `state/` are taken, prefix stripped, when any name has it);
            or a PyTorch `.pt`/Lightning `.ckpt` file, read safely (see
            `keras_videogpt.torch_checkpoint`; needs torch).

    Returns:
        The state_dict as numpy arrays, and the Lightning checkpoint's
        hyper-parameters as a dict (empty for anything else).
    """

    params = {}
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.exists(path):
            raise FileNotFoundError(f"No checkpoint at '{path}'.")
        if path.endswith(".npz"):
            source = _read_npz(path)
        else:
            ckpt = torch_checkpoint.load(path)
            params = torch_checkpoint.hyperparameters(ckpt)
            source = torch_checkpoint.state_dict(ckpt)
    out = {}
    for name, value in dict(source).items():
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        out[name] = np.asarray(value)
    return out, params


def load_state_dict(source):
    """A `{name: numpy array}` state_dict from a mapping or a file (see `read_reference`)."""
    return read_reference(source)[0]


def hyperparameters(source):
    """The `hyper_parameters` of a Lightning checkpoint file, as a dict (else {})."""
    return read_reference(source)[1] if isinstance(source, (str, os.PathLike)) else {}


# ---------------------------------------------------------------- layouts
def conv(w):
    return np.transpose(w, (2, 3, 4, 1, 0))


def conv_transpose(w):
    return np.transpose(w, (2, 3, 4, 1, 0))


def linear(w):
    return np.transpose(w)


def identity(w):
    return w


def _heads_in(heads):
    def f(w):  # (heads * d, in) -> (in, heads, d)
        return np.transpose(w).reshape(w.shape[1], heads, -1)
    return f


def _heads_out(heads):
    def f(w):  # (out, heads * d) -> (heads, d, out)
        return np.transpose(w).reshape(heads, -1, w.shape[0])
    return f


def attention_entries(prefix, layer):
    """Reference names of one MultiHeadAttention and our variables."""
    h = layer.num_heads
    return {
        f"{prefix}.w_qs.weight": (layer.query_kernel, _heads_in(h)),
        f"{prefix}.w_ks.weight": (layer.key_kernel, _heads_in(h)),
        f"{prefix}.w_vs.weight": (layer.value_kernel, _heads_in(h)),
        f"{prefix}.fc.weight": (layer.output_kernel, _heads_out(h)),
        f"{prefix}.fc.bias": (layer.output_bias, identity),
    }


def batch_norm_entries(prefix, bn):
    return {
        f"{prefix}.weight": (bn.gamma, identity),
        f"{prefix}.bias": (bn.beta, identity),
        f"{prefix}.running_mean": (bn.moving_mean, identity),
        f"{prefix}.running_var": (bn.moving_variance, identity),
    }


def conv_entries(prefix, layer, layout=conv, weight="conv"):
    entries = {f"{prefix}.{weight}.weight": (layer.kernel, layout)}
    if layer.use_bias:
        entries[f"{prefix}.{weight}.bias"] = (layer.bias, identity)
    return entries


def _res_stack_entries(prefix, stack):
    entries = {}
    for i, block in enumerate(stack.blocks):
        p = f"{prefix}.{i}.block"
        entries.update(batch_norm_entries(f"{p}.0", block.norm1))
        entries.update(conv_entries(f"{p}.2", block.conv1))
        entries.update(batch_norm_entries(f"{p}.3", block.norm2))
        entries.update(conv_entries(f"{p}.5", block.conv2))
        entries.update(batch_norm_entries(f"{p}.6", block.norm3))
        for axis in ("w", "h", "t"):
            entries.update(attention_entries(f"{p}.8.attn_{axis}",
                                             getattr(block.attention, f"attn_{axis}")))
    entries.update(batch_norm_entries(f"{prefix}.{len(stack.blocks)}", stack.norm))
    return entries


def vqvae_entries(vqvae):
    """`{reference name: (our variable, layout function)}` for a VQVAE."""
    if vqvae.quantizer_type != "ema":
        raise ValueError("The reference's checkpoints hold an EMA codebook; this VQ-VAE uses "
                         f"quantizer={vqvae.quantizer_type!r}, which they cannot fill.")
    entries = {}
    for i, c in enumerate(vqvae.encoder.convs):
        entries.update(conv_entries(f"encoder.convs.{i}", c))
    entries.update(conv_entries("encoder.conv_last", vqvae.encoder.conv_last))
    entries.update(_res_stack_entries("encoder.res_stack", vqvae.encoder.res_stack))
    entries.update(_res_stack_entries("decoder.res_stack", vqvae.decoder.res_stack))
    for i, c in enumerate(vqvae.decoder.convts):
        entries.update(conv_entries(f"decoder.convts.{i}", c, conv_transpose, "convt"))
    entries.update(conv_entries("pre_vq_conv", vqvae.pre_vq_conv))
    entries.update(conv_entries("post_vq_conv", vqvae.post_vq_conv))
    q = vqvae.quantizer
    entries.update({
        "codebook.embeddings": (q.embeddings, identity),
        "codebook.N": (q.cluster_size, identity),
        "codebook.z_avg": (q.embedding_sum, identity),
    })
    return entries


def assign(entries, state_dict, strip_prefix=""):
    """Copy `state_dict` into the variables of `entries`, checking every key and shape."""
    state = {k[len(strip_prefix):]: v for k, v in state_dict.items() if k.startswith(strip_prefix)}
    missing = [k for k in entries if k not in state]
    if missing:
        raise KeyError(f"The state_dict lacks {len(missing)} key(s) this model needs, "
                       f"first '{missing[0]}'. Does the config match the checkpoint? "
                       f"Missing: {missing[:8]}")
    extra = [k for k in state if k not in entries and not k.endswith(_IGNORED_SUFFIXES)]
    if extra:
        raise KeyError(f"The state_dict has {len(extra)} key(s) this model has no place for, "
                       f"first '{extra[0]}'. Does the config match the checkpoint? "
                       f"Unused: {extra[:8]}")
    for name, (variable, layout) in entries.items():
        value = layout(np.asarray(state[name], dtype="float32"))
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"Key '{name}' has shape {state[name].shape}, which maps to "
                             f"{value.shape}; the model's variable '{variable.path}' has "
                             f"shape {tuple(variable.shape)}. Check the config.")
        variable.assign(value)


def _infer_vqvae_config(state, config):
    inferred = dict(config)
    if "codebook.embeddings" in state:
        n_codes, dim = state["codebook.embeddings"].shape
        inferred.setdefault("n_codes", int(n_codes))
        inferred.setdefault("embedding_dim", int(dim))
    if "encoder.convs.0.conv.weight" in state:
        inferred.setdefault("n_hiddens", int(state["encoder.convs.0.conv.weight"].shape[0]))
    blocks = {k.split(".")[2] for k in state if k.startswith("encoder.res_stack.")
              and ".block." in k}
    if blocks:
        inferred.setdefault("n_res_layers", len(blocks))
    return inferred


def vqvae_from_reference(state_dict, **config):
    """A `VQVAE` holding the weights of a reference VideoGPT VQ-VAE.

    Args:
        state_dict: the reference's state_dict (see `load_state_dict` for the
            forms accepted). A Lightning `.ckpt` also supplies its own
            hyper-parameters.
        **config: the reference's argument names: `n_hiddens`, `n_res_layers`,
            `embedding_dim`, `n_codes`, `downsample`, `sequence_length` and
            `resolution`, plus any other `VQVAE` argument. Sizes that the
            weights determine are inferred when left out; `downsample`,
            `sequence_length` and `resolution` are not stored in the weights
            (defaults: 4x4x4, 16 frames, 64x64). `reference_rounding=True`
            makes the quantizer round distances as the reference's kernels
            do (see `VectorQuantizer`).

    Returns:
        A built `VQVAE` whose codebook counts as initialised.

    Example:
    >>> vqvae = vqvae_from_reference("vqvae_tiny.npz", downsample=(4, 4, 4),
    ...                              sequence_length=16, resolution=64)  # doctest: +SKIP
    """
    state, params = read_reference(state_dict)
    known = ("n_hiddens", "n_res_layers", "embedding_dim", "n_codes", "downsample",
             "sequence_length", "resolution")
    merged = {k: params[k] for k in known if k in params}
    merged.update(config)
    merged = _infer_vqvae_config(state, merged)
    vqvae = VQVAE(**merged)
    assign(vqvae_entries(vqvae), state)
    vqvae.quantizer.initialized.assign(1.0)
    return vqvae


# ------------------------------------------------------------------ prior
def dense_entries(prefix, dense):
    entries = {f"{prefix}.weight": (dense.kernel, linear)}
    if dense.use_bias:
        entries[f"{prefix}.bias"] = (dense.bias, identity)
    return entries


def layer_norm_entries(prefix, norm):
    if norm.cond_dim is None:
        return {f"{prefix}.g": (norm.gamma, identity), f"{prefix}.b": (norm.beta, identity)}
    return {f"{prefix}.w.weight": (norm.gain_kernel, linear),
            f"{prefix}.wb.weight": (norm.bias_kernel, linear)}


def _channel_norm_entries(prefix, norm):
    return {f"{prefix}.weight": (norm.gamma, identity), f"{prefix}.bias": (norm.beta, identity)}


def _resnet_entries(prefix, resnet):
    entries = {f"{prefix}.stem.0.weight": (resnet.stem.kernel, conv)}
    entries.update(_channel_norm_entries(f"{prefix}.stem.1.norm.norm", resnet.stem_norm))
    for g, group in enumerate(resnet.groups):
        for i, unit in enumerate(group):
            p = f"{prefix}.group{g + 1}." + ("start_block" if i == 0 else f"blocks.{i - 1}")
            entries[f"{p}.conv1.weight"] = (unit.conv1.kernel, conv)
            entries[f"{p}.conv2.weight"] = (unit.conv2.kernel, conv)
            entries.update(_channel_norm_entries(f"{p}.bnr1.norm.norm", unit.norm1))
            entries.update(_channel_norm_entries(f"{p}.bnr2.norm.norm", unit.norm2))
            if unit.projection:
                entries[f"{p}.proj_conv.weight"] = (unit.proj_conv.kernel, conv)
                entries.update(_channel_norm_entries(f"{p}.proj_bnr.norm.norm", unit.proj_norm))
    return entries


def prior_entries(prior):
    """`{reference name: (our variable, layout function)}` for a VideoGPT prior."""
    entries = dense_entries("fc_in", prior.fc_in)
    entries["attn_stack.right_shift.sos"] = (prior.right_shift.start, identity)
    for i, table in enumerate(prior.position.tables):
        entries[f"attn_stack.pos_embd.emb.d_{i}"] = (table, identity)
    for i, block in enumerate(prior.blocks):
        p = f"attn_stack.attn_nets.{i}"
        entries.update(layer_norm_entries(f"{p}.pre_attn_norm", block.attn_norm))
        entries.update(attention_entries(f"{p}.attn", block.attn))
        if block.cross_attention:
            entries.update(layer_norm_entries(f"{p}.pre_enc_norm", block.cross_norm))
            entries.update(attention_entries(f"{p}.enc_attn", block.cross_attn))
        entries.update(layer_norm_entries(f"{p}.pre_fc_norm", block.mlp_norm))
        entries.update(dense_entries(f"{p}.fc_block.0", block.fc1))
        entries.update(dense_entries(f"{p}.fc_block.2", block.fc2))
    entries.update(layer_norm_entries("norm", prior.norm))
    entries.update(dense_entries("fc_out", prior.fc_out))
    if prior.n_cond_frames:
        entries.update(_resnet_entries("resnet", prior.frame_encoder))
        for i, table in enumerate(prior.frame_position.tables):
            entries[f"cond_pos_embd.emb.d_{i}"] = (table, identity)
    return entries


def _latent_shape(state):
    """`(t, h, w)` from the position-embedding tables, or None."""
    tables = [state.get(f"attn_stack.pos_embd.emb.d_{i}") for i in range(3)]
    return None if any(t is None for t in tables) else tuple(int(t.shape[0]) for t in tables)


def _checkpoint_prior_config(state, params):
    """What the checkpoint itself says of the prior: from its weights, then its hyper-parameters."""
    found = {k: params[k] for k in ("heads", "dropout", "attn_dropout", "attn_type")
             if params.get(k) is not None}
    if "fc_in.weight" in state:
        found["hidden_dim"] = int(state["fc_in.weight"].shape[0])
    layers = {k.split(".")[2] for k in state if k.startswith("attn_stack.attn_nets.")}
    if layers:
        found["layers"] = len(layers)
        # The reference's full attention keeps its causal mask as a saved buffer;
        # its sparse attention has none (and it has no causal axial attention).
        has_mask = "attn_stack.attn_nets.0.attn.attn.mask" in state
        found.setdefault("attn_type", "full" if has_mask else "sparse")
    found["n_cond_frames"] = int(params.get("n_cond_frames") or 0)
    if "cond_pos_embd.emb.d_0" in state:
        found["n_cond_frames"] = int(state["cond_pos_embd.emb.d_0"].shape[0])
    found["class_cond_dim"] = params.get("class_cond_dim") if params.get("class_cond",
                                                                         True) else None
    norm = "attn_stack.attn_nets.0.pre_attn_norm.w.weight"
    if norm in state:
        found["class_cond_dim"] = int(state[norm].shape[1])
    elif layers:
        found["class_cond_dim"] = None
    return found


def prior_from_reference(state_dict, vqvae=None, **config):
    """A `VideoGPT` prior holding the weights of a reference VideoGPT.

    The converted model uses the reference's LayerNorm, whose epsilon is
    added after the reciprocal square root (`reference_epsilon=True`), so it
    computes exactly what the reference computes.

    What the checkpoint says wins: the width, depth, attention type (full
    or sparse: the reference's full attention saves its mask, its sparse
    attention does not), frame conditioning and class conditioning are
    read from the weights, the rest from a Lightning checkpoint's
    hyper-parameters. An argument that contradicts the checkpoint on
    attention or conditioning is refused, since the model would load and
    then compute something else.

    Args:
        state_dict: the reference prior's weights (see `read_reference`): a
            released `.ckpt` such as `bair_gpt` or `ucf101_uncond_gpt`, a
            `.pt` or `.npz` state_dict, or a dict of arrays.
        vqvae: the VQ-VAE whose latent grid and codebook the prior models.
            With None, it is built from the checkpoint's own `vqvae.*`
            weights (the released priors hold them); the clip length and
            resolution come from the hyper-parameters (or `sequence_length`
            and `resolution` here) and the downsampling from the latent grid.
        **config: the reference's names: `hidden_dim`, `heads`, `layers`,
            `attn_type`, `dropout`, `attn_dropout`, `n_cond_frames`,
            `class_cond_dim`, `sequence_length`, `resolution`; other
            `VideoGPT` arguments are passed on. `heads` is not stored in the
            weights: a bare state_dict needs it.

    Returns:
        The prior; with `vqvae=None`, the tuple `(prior, vqvae)`.

    Example:
    >>> prior, vqvae = prior_from_reference("bair_gpt.ckpt")     # doctest: +SKIP
    """
    state, params = read_reference(state_dict)
    vq_state = {k[len("vqvae."):]: v for k, v in state.items() if k.startswith("vqvae.")}
    state = {k: v for k, v in state.items() if not k.startswith("vqvae.")}
    clip = {k: config.pop(k, params.get(k)) for k in ("sequence_length", "resolution")}
    found = _checkpoint_prior_config(state, params)
    for key in ("attn_type", "n_cond_frames", "class_cond_dim"):
        if key in config and key in found and config[key] != found[key]:
            raise ValueError(
                f"The checkpoint has {key}={found[key]!r}, but {key}={config[key]!r} was passed. "
                "The weights would load and then compute another model; leave the argument "
                "out to use the checkpoint's.")
    # Our names are accepted too: `num_heads`, `num_layers`.
    for ours, theirs in (("num_heads", "heads"), ("num_layers", "layers")):
        if ours in config:
            config[theirs] = config.pop(ours)
    merged = dict(found, **config)
    if "heads" not in merged:
        raise ValueError("The number of heads is not stored in the weights: pass heads= (the "
                         "reference's default is 4), or convert its Lightning .ckpt, whose "
                         "hyper-parameters hold it.")
    return_vqvae = vqvae is None
    if vqvae is None:
        if not vq_state:
            raise ValueError("Pass `vqvae`: this state_dict holds no 'vqvae.*' weights.")
        vq_config = {k: v for k, v in clip.items() if v is not None}
        latent = _latent_shape(state)
        if latent is not None:
            t = vq_config.get("sequence_length", 16)
            r = vq_config.get("resolution", 64)
            vq_config["downsample"] = (t // latent[0], r // latent[1], r // latent[2])
        vqvae = vqvae_from_reference(vq_state, **vq_config)
    merged.setdefault("dropout", 0.0)
    merged.setdefault("attn_dropout", 0.0)
    # The reference's argument names, ours in VideoGPT.
    merged["num_heads"] = merged.pop("heads")
    if "layers" in merged:
        merged["num_layers"] = merged.pop("layers")
    prior = VideoGPT.from_vqvae(vqvae, reference_epsilon=True, **merged)
    assign(prior_entries(prior), state)
    return (prior, vqvae) if return_vqvae else prior


def convert_checkpoint(source, out_dir, **config):
    """Converts a reference checkpoint to `.keras` files in `out_dir`.

    A prior checkpoint (the released `bair_gpt.ckpt`, `ucf101_uncond_gpt.ckpt`)
    gives `vqvae.keras` and `prior.keras`, the VQ-VAE taken from its own
    weights; a VQ-VAE checkpoint (`bair_stride4x2x2.ckpt`, ...) gives
    `vqvae.keras`. `config` is passed to the converter.

    Returns:
        `{"vqvae": path, "prior": path or None}`.
    """
    state, params = read_reference(source)
    os.makedirs(out_dir, exist_ok=True)
    paths = {"vqvae": os.path.join(out_dir, "vqvae.keras"), "prior": None}
    if any(k.startswith("attn_stack.") for k in state):
        prior, vqvae = prior_from_reference(source if params else state, **config)
        paths["prior"] = os.path.join(out_dir, "prior.keras")
        prior.save(paths["prior"])
    elif any(k.startswith("encoder.") for k in state):
        vqvae = vqvae_from_reference(source if params else state, **config)
    else:
        raise ValueError(f"'{source}' holds neither a VideoGPT prior ('attn_stack.*') nor a "
                         "VQ-VAE ('encoder.*') state_dict.")
    vqvae.save(paths["vqvae"])
    return paths
