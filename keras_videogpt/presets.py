"""Named configurations, one small function each.

Each function returns the keyword arguments of a model's constructor; its
docstring says what it reproduces and how to run it. Use them through
`VQVAE.from_preset(name)` and `VideoGPT.from_preset(name, vqvae)`, or list
them with `vqvae_presets()` / `prior_presets()`.
"""

_VQVAE = {}
_PRIOR = {}


def _register(table, name=None):
    def wrap(fn):
        table[name or fn.__name__] = fn
        return fn
    return wrap


# ----------------------------------------------------------------- VQ-VAE
@_register(_VQVAE)
def tiny():
    """A small VQ-VAE for CPU demos and tests: 16x64x64 clips to a 4x16x16 grid of 128 codes.

    Run: `python -m train.vqvae --preset=tiny --learning_rate=1e-3 --epochs=32`
    (Moving MNIST, batch 8, 800 steps, about 15 minutes on 2 CPU cores).
    Measured there on held-out clips: NMSE 0.59 after 200 steps (the demo's
    budget: blurry but recognisable digits), 0.36 after 800, still falling;
    100 codes or more in use after 300 steps. The reference's learning rate
    (3e-4, the command's default) is slower here: NMSE 0.66 after 200 steps
    and 0.44 after 800. Same shape as the reference fixture `vqvae_tiny.npz`,
    minus one residual block.
    """
    return dict(sequence_length=16, resolution=64, n_hiddens=64, n_res_layers=1,
                embedding_dim=64, n_codes=128, downsample=(4, 4, 4))


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
@_register(_PRIOR, "tiny")
def prior_tiny():
    """A small unconditional prior for CPU demos and tests (over the tiny VQ-VAE's 4x16x16 codes).

    Run: `python -m train.prior --preset=tiny --vqvae=runs/demo/vqvae.keras`.
    Expect the loss to fall from ln(128) = 4.85 nats and the compiled sampler
    to draw a 4x16x16 video in a few seconds.
    """
    return dict(hidden_dim=96, heads=4, layers=2, dropout=0.0, attn_dropout=0.0)


@_register(_PRIOR, "tiny_frame_cond")
def prior_tiny_frame_cond():
    """`tiny`, conditioned on the first frame through a small 3D ResNet and cross-attention.

    Run: `python -m train.prior --preset=tiny_frame_cond --vqvae=...`; sample
    with `python -m train.sample ... --cond_frames_from=data` to continue a
    clip from its first frame.
    """
    return dict(prior_tiny(), n_cond_frames=1, resnet_blocks=(1, 1, 1, 1), resnet_width=16,
                resnet_dim=48)


@_register(_PRIOR, "bair")
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
    return dict(hidden_dim=576, heads=4, layers=16, dropout=0.2, attn_dropout=0.3,
                attn_type="sparse", n_cond_frames=1, resnet_blocks=(3, 4, 6, 3),
                resnet_width=64, resnet_dim=240)


@_register(_PRIOR, "ucf101_uncond")
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
    return dict(hidden_dim=576, heads=4, layers=8, dropout=0.2, attn_dropout=0.3,
                attn_type="sparse")


@_register(_PRIOR, "ucf101")
def prior_ucf101():
    """A class-conditional UCF-101 prior (101 classes) over `ucf101_stride4x4x4`'s 4x32x32 codes.

    As `ucf101_uncond`, with conditional LayerNorms driven by the one-hot
    class (the reference's `--class_cond`); the reference released no such
    checkpoint. Run:
    `python -m train.prior --preset=ucf101 --vqvae=<ucf101_stride4x4x4.keras> --data=ucf101`.
    """
    return dict(prior_ucf101_uncond(), class_cond_dim=101)


def _lookup(table, kind, name, overrides):
    if name not in table:
        raise ValueError(f"Unknown {kind} preset '{name}'. Available: {', '.join(sorted(table))}.")
    config = table[name]()
    config.update(overrides)
    return config


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
