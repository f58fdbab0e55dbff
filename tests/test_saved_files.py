"""Files saved by earlier versions still load and compute the same outputs."""

import numpy as np

from keras_videogpt import checkpoints
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data"


def test_models_saved_before_the_renames_load_and_match():
    """Saved at 44d07dc (before GridAttention, ConditionalLayerNorm, num_heads and num_layers;
    see tests/data/make_old_names.py): the same reconstructions and logits."""
    arrays = np.load(DATA / "old_names.npz")
    vqvae = checkpoints.load_vqvae(DATA / "old_names_vqvae.keras")
    prior = checkpoints.load_prior(DATA / "old_names_prior.keras", vqvae)
    assert (prior.num_heads, prior.num_layers) == (2, 1)
    assert "heads" not in prior.get_config() and prior.get_config()["num_heads"] == 2
    np.testing.assert_allclose(np.asarray(vqvae(arrays["video"], training=False)),
                               arrays["recon"], atol=1e-5)
    logits = prior({"codes": arrays["codes"], "cond_frames": arrays["video"][:, :1]},
                   training=False)
    np.testing.assert_allclose(np.asarray(logits), arrays["logits"], atol=1e-5)
