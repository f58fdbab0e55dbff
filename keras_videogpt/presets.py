"""Named configurations, one small function each.

Each function returns the keyword arguments of a model's constructor; its
docstring says what it reproduces and how to run it. Use them through
`VQVAE.from_preset(name)` and `VideoGPT.from_preset(name, vqvae)`, or list
them with `vqvae_presets()` / `prior_presets()`.
"""

_VQVAE = {}
_PRIOR = {}


def _register(table):
    def wrap(fn):
        table[fn.__name__] = fn
        return fn
    return wrap


# ----------------------------------------------------------------- VQ-VAE
@_register(_VQVAE)
def tiny():
    """A small VQ-VAE for CPU demos and tests: 16x64x64 clips to a 4x16x16 grid of 128 codes.

    Run: `python -m train.vqvae --preset=tiny` (Moving MNIST, a few minutes on
    2 CPU cores). Expect NMSE well under 0.2 and most of the 128 codes in use
    after a few hundred steps. Same shape as the reference fixture
    `vqvae_tiny.npz`, minus one residual block.
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
