"""Named configurations, one small function each.

A model preset returns the keyword arguments of a model's constructor; its
docstring says what it reproduces, how to train it and, for presets with
shipped weights, what those weights reach. Use them through
`VQVAE.from_preset(name, weights=...)` and `VideoGPT.from_preset(name, vqvae,
weights=...)`; list them with `vqvae_presets()` / `prior_presets()` and
describe one with `preset_info(kind, name)`.

A recipe (`recipe(name)`) holds a whole training run, big_vision style: the
data, each stage's preset and its schedule. `make demo` runs the `demo`
recipe; the shipped Moving MNIST weights come from the `moving_mnist` recipe
(`python -m train.recipe --recipe=moving_mnist`).
"""

import os

# Where the weights that ship with the package live (package data).
WEIGHTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
_VQVAE = {}
_PRIOR = {}
_RECIPES = {}
# The reference's release names of its checkpoints, for `from_preset(name, weights=<ckpt>)`.
ALIASES = {"bair_gpt": "bair", "ucf101_uncond_gpt": "ucf101_uncond"}


def _register(table, name=None, weights=None, vqvae=None):
    """Adds a config function to `table`; `weights` names its shipped weights file, and a
    prior's `vqvae` names the VQ-VAE preset it models (whose weights, for shipped ones)."""
    def wrap(fn):
        fn.weights_file, fn.vqvae_preset = weights, vqvae
        table[name or fn.__name__] = fn
        return fn
    return wrap


# ----------------------------------------------------------------- VQ-VAE
@_register(_VQVAE)
def tiny():
    """A small VQ-VAE for CPU demos and tests: 16x64x64 clips to a 4x16x16 grid of 128 codes.

    Run: `python -m train.vqvae --preset=tiny --learning_rate=1e-3 --epochs=32`
    (Moving MNIST, batch 8, 800 steps: 6 minutes on 2 CPU cores, 2026-12-01).
    Measured on 32 held-out clips: NMSE 0.32, digit score 0.42 (real clips
    0.96), 118 of 128 codes in use, still improving (600 steps: 0.37 and
    0.24). At batch 4, as the `demo` recipe trains it, 800 steps take 4.5
    minutes and reach NMSE 0.33 and digit score 0.38. A faster rate hurts:
    2e-3 with cosine decay over 600 steps reached digit score 0.02; the
    reference's 3e-4 (the command's default) is slower (in an earlier
    session, NMSE 0.44 against 0.36 after 800 steps). Same shape as the
    reference fixture `vqvae_tiny.npz`, minus one residual block.
    """
    return dict(sequence_length=16, resolution=64, n_hiddens=64, n_res_layers=1,
                embedding_dim=64, n_codes=128, downsample=(4, 4, 4))


@_register(_VQVAE, weights="moving_mnist_vqvae.npz")
def moving_mnist():
    """`tiny`'s layers at half its temporal stride, trained on Moving MNIST; its weights ship.

    16x64x64 clips of 1 or 2 moving digits to an 8x16x16 grid of 128 codes:
    downsample (2, 4, 4), so a code covers 2 frames of a 4x4 patch. At `tiny`'s
    4x16x16 a digit moving 2-4 pixels a frame lands on other codes at every
    latent step and the prior redraws its shape each time; here the codes
    repeat 4x as often from one latent step to the next, and at equal steps
    the reconstructions score higher (model card, Limits and History).
    Trained by the `moving_mnist` recipe (`python -m train.recipe
    --recipe=moving_mnist`); see `keras_videogpt/weights/MODEL_CARD.md` for
    the run and its scores on held-out clips.
    """
    return dict(tiny(), downsample=(2, 4, 4))


@_register(_VQVAE)
def bair_stride4x2x2():
    """The reference's BAIR VQ-VAE: 16x64x64 clips to a 4x32x32 grid.

    n_hiddens 240, 4 residual layers, 256-d codes, downsample (4, 2, 2). The
    codebook has 1024 codes, the size the paper's appendix lists for BAIR (the
    reference code's command-line default is 2048; a converted checkpoint
    takes its size from the state_dict). Run:
    `python -m train.vqvae --preset=bair_stride4x2x2 --data=bair_robot_pushing_small`.
    """
    return dict(sequence_length=16, resolution=64, n_hiddens=240, n_res_layers=4,
                embedding_dim=256, n_codes=1024, downsample=(4, 2, 2))


@_register(_VQVAE)
def ucf101_stride4x4x4():
    """The reference's UCF-101 VQ-VAE: 16x128x128 clips to a 4x32x32 grid of 2048 codes.

    Run: `python -m train.vqvae --preset=ucf101_stride4x4x4 --data=ucf101`.
    """
    return dict(sequence_length=16, resolution=128, n_hiddens=240, n_res_layers=4,
                embedding_dim=256, n_codes=2048, downsample=(4, 4, 4))


@_register(_VQVAE)
def kinetics_stride4x4x4():
    """The reference's Kinetics-600 VQ-VAE: 16x128x128 to 4x32x32, 2048 codes."""
    return ucf101_stride4x4x4()


@_register(_VQVAE)
def kinetics_stride2x4x4():
    """The reference's Kinetics-600 VQ-VAE with twice the temporal codes: 16x128x128 to 8x32x32."""
    return dict(ucf101_stride4x4x4(), downsample=(2, 4, 4))


# ------------------------------------------------------------------ prior
@_register(_PRIOR, "tiny", vqvae="tiny")
def prior_tiny():
    """A small unconditional prior for CPU demos and tests (over the tiny VQ-VAE's 4x16x16 codes).

    Run: `python -m train.prior --preset=tiny --vqvae=runs/demo/vqvae.keras`.
    Expect the loss to fall from ln(128) = 4.85 nats and the compiled sampler
    to draw a 4x16x16 video in a few seconds.
    """
    return dict(hidden_dim=96, num_heads=4, num_layers=2, dropout=0.0, attn_dropout=0.0)


@_register(_PRIOR, "tiny_frame_cond", vqvae="tiny")
def prior_tiny_frame_cond():
    """`tiny`, conditioned on the first frame through a small 3D ResNet and cross-attention.

    Run: `python -m train.prior --preset=tiny_frame_cond --vqvae=...`; sample
    with `python -m train.sample ... --cond_frames_from=data` to continue a
    clip from its first frame.
    """
    return dict(prior_tiny(), n_cond_frames=1, resnet_blocks=(1, 1, 1, 1), resnet_width=16,
                resnet_dim=48)


@_register(_PRIOR, "moving_mnist", weights="moving_mnist_prior.npz", vqvae="moving_mnist")
def prior_moving_mnist():
    """An unconditional Moving MNIST prior over the `moving_mnist` VQ-VAE; weights ship.

    Causal axial attention (every code sees all earlier codes; a training
    step costs 0.77x full attention's here, and full attention, trained the
    same way, drew no better digits), hidden 192, 4 heads, 4 layers, no
    dropout: sized so that 3200 steps of 8 clips (78 minutes on 2 CPU cores)
    train it well past the point where its samples hold digits. Trained by the
    `moving_mnist` recipe; scores in `keras_videogpt/weights/MODEL_CARD.md`.
    """
    return dict(hidden_dim=192, num_heads=4, num_layers=4, dropout=0.0, attn_dropout=0.0,
                attn_type="axial")


@_register(_PRIOR, "moving_mnist_frame_cond", weights="moving_mnist_frame_cond_prior.npz",
           vqvae="moving_mnist")
def prior_moving_mnist_frame_cond():
    """`moving_mnist`, continuing a clip from its first frame (ResNet + cross-attention); weights ship.

    The first frame goes through a small 3D ResNet (one block per stage,
    width 16, 96 out) to which every block cross-attends. Trained by the
    `moving_mnist` recipe; scores in `keras_videogpt/weights/MODEL_CARD.md`.
    """
    return dict(prior_moving_mnist(), n_cond_frames=1, resnet_blocks=(1, 1, 1, 1),
                resnet_width=16, resnet_dim=96)


@_register(_PRIOR, "bair", vqvae="bair_stride4x2x2")
def prior_bair():
    """The reference's released `bair_gpt`: continues 1 frame, over `bair_stride4x2x2`'s codes.

    Strided sparse attention (blocks of 32, 4 local blocks, as the reference
    trains with `--attn_type sparse`), 4 heads, 16 layers, dropout 0.2,
    attention dropout 0.3 (the paper's Table A.2, BAIR column), hidden 576
    (the paper's 512 is not divisible by 3, which the reference's position
    embedding requires; 576 is its code's default), and a ResNet-34 frame
    encoder (width 64, 240 out) with cross-attention in every block.
    Converting the checkpoint reads the width, depth and conditioning from
    its weights and hyper-parameters, which win over these figures:
    `kv.convert.prior_from_reference("bair_gpt.ckpt")`. To train it:
    `python -m train.prior --preset=bair --vqvae=<bair_stride4x2x2.keras>
    --data=bair_robot_pushing_small --gradient_checkpointing`. The paper
    reports FVD 103 on BAIR.
    """
    return dict(hidden_dim=576, num_heads=4, num_layers=16, dropout=0.2, attn_dropout=0.3,
                attn_type="sparse", n_cond_frames=1, resnet_blocks=(3, 4, 6, 3),
                resnet_width=64, resnet_dim=240)


@_register(_PRIOR, "ucf101_uncond", vqvae="ucf101_stride4x4x4")
def prior_ucf101_uncond():
    """The reference's released `ucf101_uncond_gpt`: unconditional, over `ucf101_stride4x4x4`.

    16 frames of 128x128 to a 4x32x32 grid; strided sparse attention (blocks
    of 32, 4 local blocks), hidden 576, 4 heads, 8 layers, dropout 0.2,
    attention dropout 0.3: the reference code's defaults, since its README
    gives no other figures. The released checkpoint's hyper-parameters and
    weights win when converting: `kv.convert.prior_from_reference(
    "ucf101_uncond_gpt.ckpt")`. To train it: `python -m train.prior
    --preset=ucf101_uncond --vqvae=<ucf101_stride4x4x4.keras> --data=ucf101`.
    """
    return dict(hidden_dim=576, num_heads=4, num_layers=8, dropout=0.2, attn_dropout=0.3,
                attn_type="sparse")


@_register(_PRIOR, "ucf101", vqvae="ucf101_stride4x4x4")
def prior_ucf101():
    """A class-conditional UCF-101 prior (101 classes) over `ucf101_stride4x4x4`'s 4x32x32 codes.

    As `ucf101_uncond`, with conditional LayerNorms driven by the one-hot
    class (the reference's `--class_cond`); the reference released no such
    checkpoint. Run:
    `python -m train.prior --preset=ucf101 --vqvae=<ucf101_stride4x4x4.keras> --data=ucf101`.
    """
    return dict(prior_ucf101_uncond(), class_cond_dim=101)


# ---------------------------------------------------------------- recipes
@_register(_RECIPES, "demo")
def recipe_demo():
    """What `make demo` trains from scratch on Moving MNIST made offline, sized to 2 CPU cores.

    Run: `make demo` (or `python -m train.demo --workdir=runs/demo`). The
    VQ-VAE takes 800 steps of 4 clips at lr 1e-3 (about 4 minutes on 2
    cores); each prior 50 steps of 8 clips on codes computed in the input
    pipeline (under a minute each). Measured 2026-12-01 on 8 held-out clips
    (`make demo` at 99d55d7): reconstruction NMSE 0.32 and digit score 0.37
    (real clips 0.99; 0.40 at 07aa917, before the Winograd and short-axis
    changes moved the training's rounding; over 32 clips 0.38 against 0.96).
    The priors' samples and continuations hold no digits (digit score 0.00
    for both, as after the 100 steps of 8 clips this recipe took before):
    that takes the `moving_mnist` recipe's hours, whose weights the demo
    draws from first. Batch 8 for the VQ-VAE would reach 0.42 over 32 clips
    in 95 s more.
    """
    return dict(
        data="moving_mnist", num_videos=512, seed=0,
        vqvae=dict(preset="tiny", batch_size=4, epochs=32, steps_per_epoch=25,
                   learning_rate=1e-3),
        prior=dict(preset="tiny", batch_size=8, epochs=2, steps_per_epoch=25,
                   learning_rate=1e-3),
        prior_frame_cond=dict(preset="tiny_frame_cond", batch_size=8, epochs=2,
                              steps_per_epoch=25, learning_rate=1e-3))


@_register(_RECIPES, "demo_quick")
def recipe_demo_quick():
    """`demo` with a few steps per stage, to check the wiring (`python -m train.demo --quick`)."""
    config = recipe_demo()
    config.update(num_videos=64)
    config["vqvae"].update(batch_size=4, epochs=2, steps_per_epoch=2)
    for stage in ("prior", "prior_frame_cond"):
        config[stage].update(batch_size=4, epochs=1, steps_per_epoch=3)
    return config


@_register(_RECIPES, "moving_mnist")
def recipe_moving_mnist():
    """The run that made the shipped Moving MNIST weights (`moving_mnist` presets).

    Run: `python -m train.recipe --recipe=moving_mnist --workdir=runs/moving_mnist`
    (resumable: run it again after a stop). Stages, with their wall times on 2
    cores of an AMD EPYC:
    1. the VQ-VAE (8x16x16 codes), 4000 steps of 8 clips at lr 1e-3 on 4096
       clips (45 minutes);
    2. codes of 8192 training clips, encoded once, with their first frames;
    3. the unconditional prior, 3200 steps of 8 clips (2048 codes each) with a
       cosine decay from lr 1e-3 (78 minutes);
    4. the frame-conditioned prior, started from the unconditional one
       (`init_from`, `keras_videogpt.prior.warm_start`), 2000 steps of 8 clips
       at lr 5e-4 after a 100-step warm-up (62 minutes).
    Reached on 64 held-out clips (seed 0): digit score 0.94 for
    reconstructions, 0.70 for samples and 0.71 for continuations of a real first
    frame (real clips 0.98); held-out bits/dim 1.38 and 1.29. Fresh seeds, the
    machine and the first release's 4x16x16 run are in
    `keras_videogpt/weights/MODEL_CARD.md`.
    """
    return dict(
        data="moving_mnist", num_videos=4096, seed=0, code_clips=8192,
        vqvae=dict(preset="moving_mnist", batch_size=8, epochs=40, steps_per_epoch=100,
                   learning_rate=1e-3),
        prior=dict(preset="moving_mnist", batch_size=8, epochs=32, steps_per_epoch=100,
                   learning_rate=1e-3),
        prior_frame_cond=dict(preset="moving_mnist_frame_cond", batch_size=8, epochs=20,
                              steps_per_epoch=100, learning_rate=5e-4, init_from="prior",
                              warmup_steps=100))


def recipe(name):
    """The training run `name` (see `recipes()`): a dict of data and per-stage settings."""
    if name not in _RECIPES:
        raise ValueError(f"Unknown recipe '{name}'. Available: {', '.join(sorted(_RECIPES))}.")
    return _RECIPES[name]()


def recipes():
    """Names of the recipes."""
    return sorted(_RECIPES)


# ----------------------------------------------------------------- lookup
def _table(kind):
    if kind not in ("vqvae", "prior"):
        raise ValueError(f"`kind` must be 'vqvae' or 'prior'; got {kind!r}.")
    return _VQVAE if kind == "vqvae" else _PRIOR


def _lookup(table, kind, name, overrides):
    name = ALIASES.get(name, name) if table is _PRIOR else name
    if name not in table:
        raise ValueError(f"Unknown {kind} preset '{name}'. Available: {', '.join(sorted(table))}.")
    config = table[name]()
    config.update(overrides)
    return config


def preset_info(kind, name, count_params=False):
    """What a preset is: `kind` "vqvae" or "prior", and its `name`.

    Returns a dict with the description (the docstring's first line), the
    full docstring, the config, `weights` (the path of its shipped weights
    file, or None) and, for a prior, the VQ-VAE preset it models. With
    `count_params`, also `params`: the parameter count, from building the
    model (a prior over its VQ-VAE preset).
    """

    table = _table(kind)
    name = ALIASES.get(name, name) if kind == "prior" else name
    config = _lookup(table, "VQ-VAE" if kind == "vqvae" else "prior", name, {})
    fn = table[name]
    doc = " ".join((fn.__doc__ or "").split())
    info = dict(name=name, kind=kind, description=(fn.__doc__ or "").strip().splitlines()[0],
                docstring=doc, config=config, weights=None, vqvae_preset=fn.vqvae_preset)
    if fn.weights_file:
        info["weights"] = os.path.join(WEIGHTS_DIR, fn.weights_file)
    if count_params:
        from keras_videogpt.prior.model import VideoGPT  # presets sit below the models
        from keras_videogpt.vqvae.model import VQVAE

        if kind == "vqvae":
            info["params"] = VQVAE(**config).count_params()
        else:
            vqvae = VQVAE(**vqvae_config(fn.vqvae_preset))
            info["params"] = VideoGPT.from_vqvae(vqvae, **config).count_params()
    return info


def shipped_weights(kind, name):
    """The shipped weights file of a preset, or a clear error naming the presets that have one."""
    info = preset_info(kind, name)
    if info["weights"] is None:
        with_weights = [n for n, fn in sorted(_table(kind).items()) if fn.weights_file]
        raise ValueError(f"The {kind} preset '{name}' has no shipped weights (presets with "
                         f"weights: {', '.join(with_weights)}). Train it, or pass weights=<path> "
                         "(a weights .npz, or a reference checkpoint to convert).")
    if not os.path.exists(info["weights"]):
        raise FileNotFoundError(f"The weights of preset '{name}' should ship at "
                                f"'{info['weights']}', but the file is missing: the package "
                                "was installed without its data files. Reinstall it.")
    return info["weights"]


def vqvae_config(name, **overrides):
    """Constructor arguments of the VQ-VAE preset `name`, with `overrides` applied."""
    return _lookup(_VQVAE, "VQ-VAE", name, overrides)


def vqvae_presets():
    """Names of the VQ-VAE presets."""
    return sorted(_VQVAE)


def prior_config(name, **overrides):
    """Constructor arguments of the prior preset `name`, with `overrides` applied."""
    return _lookup(_PRIOR, "prior", name, overrides)


def prior_presets():
    """Names of the prior presets."""
    return sorted(_PRIOR)
