"""Reference checkpoints as the reference's PyTorch Lightning 1.3 saves them, read safely."""

import argparse
import os
import sys
import types

import numpy as np
import pytest

import keras_videogpt as kv
from conftest import fixture_path, reference_state
from keras_videogpt import torch_checkpoint


def require_torch():
    if os.environ.get("CI"):
        import torch  # the test extra installs it: under CI a missing torch is a failure
        return torch
    return pytest.importorskip("torch", reason="torch is a test extra (pip install torch)")


def fake_lightning_callback():
    """A class importable as Lightning 1.3's ModelCheckpoint while the checkpoint is written."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks",
             "pytorch_lightning.callbacks.model_checkpoint"]
    modules = [types.ModuleType(n) for n in names]
    cls = type("ModelCheckpoint", (), {"__module__": names[-1]})
    modules[-1].ModelCheckpoint = cls
    return cls, dict(zip(names, modules))


def save_lightning_checkpoint(torch, path, state, args):
    """Writes what Lightning 1.3's `trainer.save_checkpoint` writes for the reference's VideoGPT."""
    cls, modules = fake_lightning_callback()
    sys.modules.update(modules)
    try:
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
        first = next(iter(tensors.values()))
        torch.save({
            "epoch": 3, "global_step": 1200, "pytorch-lightning_version": "1.3.8",
            "state_dict": tensors,
            "callbacks": {cls: {"monitor": "val/loss", "best_model_score": torch.tensor(2.5),
                                "best_model_path": "/ckpt/epoch=2.ckpt",
                                "current_score": torch.tensor(2.5), "dirpath": "/ckpt"}},
            "optimizer_states": [{"state": {0: {"step": torch.tensor(1200.0),
                                                "exp_avg": torch.zeros_like(first)}},
                                  "param_groups": [{"lr": 3e-4, "betas": (0.9, 0.999),
                                                    "eps": 1e-8, "params": [0]}]}],
            "lr_schedulers": [{"T_max": 200000, "eta_min": 0, "base_lrs": [3e-4],
                               "last_epoch": 1200, "_step_count": 1201}],
            "hparams_name": "args",
            "hyper_parameters": {"args": argparse.Namespace(**args)},
        }, path)
    finally:
        for name in modules:
            sys.modules.pop(name, None)


def reference_args(data, **extra):
    hidden, heads, layers = (int(x) for x in data["config"][:3])
    class_dim = int(data["class_cond_dim"])
    return dict(vqvae="kinetics_stride4x4x4", data_path="/data/x.hdf5", sequence_length=16,
                resolution=64, batch_size=8, num_workers=8, gpus=8, max_steps=200000,
                n_cond_frames=int(data["n_cond_frames"]), class_cond=class_dim > 0,
                class_cond_dim=class_dim if class_dim > 0 else None, hidden_dim=hidden,
                heads=heads, layers=layers, dropout=0.2, attn_type=str(data["attn_type"]),
                attn_dropout=0.3, **extra)


@pytest.mark.parametrize("name", ["gpt_frame_cond", "gpt_sparse"])
def test_released_style_checkpoint_converts_from_its_path_alone(tmp_path, name):
    torch = require_torch()
    path = fixture_path("reference", f"{name}.npz")
    data = dict(np.load(path))
    state = reference_state(path)
    state.update({"vqvae." + k: v for k, v in
                  reference_state(fixture_path("reference", "vqvae_tiny.npz")).items()})
    ckpt = tmp_path / f"{name}.ckpt"
    save_lightning_checkpoint(torch, ckpt, state, reference_args(data))
    assert "pytorch_lightning" not in sys.modules  # the loader must not need Lightning

    prior, vqvae = kv.convert.prior_from_reference(ckpt)
    assert vqvae.latent_shape == (4, 16, 16) and vqvae.downsample == (4, 4, 4)
    assert (prior.attn_type, prior.n_cond_frames, prior.num_heads) == (
        str(data["attn_type"]), int(data["n_cond_frames"]), 4)
    assert (prior.dropout, prior.attn_dropout) == (0.2, 0.3)  # the hyper-parameters' own
    batch = {"codes": data["codes"].astype("int32")}
    if prior.n_cond_frames:
        batch["cond_frames"] = np.transpose(data["video"], (0, 2, 3, 4, 1))[:, :1]
    np.testing.assert_allclose(prior(batch).numpy(), data["logits"], atol=1e-4)
    # An explicit argument still overrides what does not change the computation...
    assert kv.convert.prior_from_reference(ckpt, vqvae, dropout=0.0).dropout == 0.0
    # ...and one that would compute another model is refused, naming the mismatch.
    other = "full" if str(data["attn_type"]) == "sparse" else "sparse"
    with pytest.raises(ValueError, match=f"attn_type='{data['attn_type']}', but "
                                         f"attn_type='{other}' was passed"):
        kv.convert.prior_from_reference(ckpt, vqvae, attn_type=other)


def test_conditioning_that_contradicts_the_weights_is_refused():
    vqvae = kv.convert.vqvae_from_reference(fixture_path("reference", "vqvae_tiny.npz"),
                                            downsample=(4, 4, 4), sequence_length=16,
                                            resolution=64)
    frames = reference_state(fixture_path("reference", "gpt_frame_cond.npz"))
    with pytest.raises(ValueError, match="n_cond_frames=1, but n_cond_frames=0 was passed"):
        kv.convert.prior_from_reference(frames, vqvae, heads=4, n_cond_frames=0)
    classes = reference_state(fixture_path("reference", "gpt_class_cond.npz"))
    with pytest.raises(ValueError, match="class_cond_dim=10, but class_cond_dim=101"):
        kv.convert.prior_from_reference(classes, vqvae, heads=4, class_cond_dim=101)
    sparse = reference_state(fixture_path("reference", "gpt_sparse.npz"))
    with pytest.raises(ValueError, match="attn_type='sparse', but attn_type='axial'"):
        kv.convert.prior_from_reference(sparse, vqvae, heads=4, attn_type="axial")
    with pytest.raises(ValueError, match="pass heads="):
        kv.convert.prior_from_reference(sparse, vqvae)


class RunsCode:
    """Unpickling this would call os.system: the classic malicious checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["top", "hyper_parameters"])
def test_a_checkpoint_that_would_run_code_is_refused_without_side_effect(tmp_path, where):
    torch = require_torch()
    marker = tmp_path / "pwned"
    payload = RunsCode(marker)
    ckpt = {"state_dict": {"fc_in.weight": torch.zeros(2, 2)}}
    if where == "top":
        ckpt = payload
    else:
        ckpt["hyper_parameters"] = {"args": payload}
    path = tmp_path / "evil.ckpt"
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match="Refusing to load .*evil.ckpt.*weights_only=True"):
        kv.convert.prior_from_reference(path)
    with pytest.raises(ValueError, match="Refusing to load"):
        kv.convert.vqvae_from_reference(path)
    assert not marker.exists()


def test_a_ckpt_without_torch_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "model.ckpt"
    path.write_bytes(b"not really a checkpoint")
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    for read in (kv.convert.prior_from_reference, kv.convert.vqvae_from_reference,
                 kv.convert.hyperparameters, kv.convert.load_state_dict):
        with pytest.raises(ImportError, match=r"needs PyTorch: `pip install torch`"):
            read(path)


def test_a_file_that_is_no_checkpoint_is_named(tmp_path):
    require_torch()
    path = tmp_path / "broken.pt"
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="broken.pt' is not a readable PyTorch checkpoint"):
        torch_checkpoint.load(path)
    with pytest.raises(FileNotFoundError, match="No checkpoint at"):
        torch_checkpoint.load(tmp_path / "missing.ckpt")


def test_convert_checkpoint_writes_keras_files_that_load(tmp_path):
    torch = require_torch()
    import keras

    path = fixture_path("reference", "gpt_sparse.npz")
    data = dict(np.load(path))
    state = reference_state(path)
    state.update({"vqvae." + k: v for k, v in
                  reference_state(fixture_path("reference", "vqvae_tiny.npz")).items()})
    ckpt = tmp_path / "ucf101_uncond_gpt.ckpt"
    save_lightning_checkpoint(torch, ckpt, state, reference_args(data))
    paths = kv.convert.convert_checkpoint(ckpt, tmp_path / "out")
    prior = keras.models.load_model(paths["prior"])
    vqvae = keras.models.load_model(paths["vqvae"])
    assert prior.attn_type == "sparse" and vqvae.latent_shape == prior.latent_shape
    np.testing.assert_allclose(prior(data["codes"].astype("int32")).numpy(), data["logits"],
                               atol=1e-4)
    with pytest.raises(ValueError, match="neither a VideoGPT prior"):
        kv.convert.convert_checkpoint({"foo": np.zeros(2)}, tmp_path / "other")
