"""Reading the reference's PyTorch checkpoints without running code from them.

A `.pt`/`.ckpt` file is a pickle, and unpickling an arbitrary pickle can run
arbitrary code. The files people download are exactly the ones not to
trust, so they are read with `torch.load(weights_only=True)`, which rebuilds
tensors, containers and primitive values only, plus an allow-list of exactly
what the reference's PyTorch Lightning 1.3 checkpoints hold:

- `argparse.Namespace`, the `hyper_parameters["args"]` the reference saves;
- Lightning's `ModelCheckpoint` class, which Lightning 1.3 uses as the key of
  its callback state. It is mapped to an inert stand-in, so Lightning need
  not be installed and nothing of it is imported or called.

Anything else (a class, a function, a reduce that would run code) makes the
load fail with a `ValueError` that names the file, before anything runs.
"""

import argparse
import os
import pickle


class LightningCallbackKey:
    """Stands in for a Lightning callback class used as a dict key; it does nothing."""


# Lightning 1.3's callback classes, which its checkpoints name as dict keys.
_LIGHTNING_CALLBACKS = (
    "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
    "pytorch_lightning.callbacks.early_stopping.EarlyStopping",
)


def import_torch(path):
    """torch, or an ImportError that says what to install to read `path`."""
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            f"Reading the PyTorch checkpoint '{path}' needs PyTorch: `pip install torch` (the "
            "CPU build is enough) or `pip install keras-videogpt[convert]`. Without torch, pass "
            "the state_dict as a dict of numpy arrays or a .npz file.") from e
    return torch


def load(path):
    """The unpickled checkpoint at `path`: tensors, containers and the allow-listed types.

    Raises:
        FileNotFoundError: no file at `path`.
        ImportError: torch is not installed.
        ValueError: the file holds anything beyond the allow-list, or is not a
            PyTorch checkpoint.
    """

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No checkpoint at '{path}'.")
    torch = import_torch(path)
    allowed = [argparse.Namespace] + [(LightningCallbackKey, name)
                                      for name in _LIGHTNING_CALLBACKS]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        unsafe = next((line for line in lines if "GLOBAL" in line), None)
        if unsafe is None:  # not a pickle torch understands at all
            detail = next((line for line in lines if line.startswith("Unsupported")), lines[-1:])
            raise ValueError(f"'{path}' is not a readable PyTorch checkpoint ({detail}).") from e
        raise ValueError(
            f"Refusing to load '{path}': it holds more than weights and the reference's "
            f"hyper-parameters ({unsafe.rstrip('.')}). Checkpoints are read with "
            "weights_only=True, so that nothing in a downloaded file can run code. Only the "
            "reference's PyTorch Lightning checkpoints and plain state_dicts are "
            "supported.") from e
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(f"'{path}' is not a readable PyTorch checkpoint "
                         f"({type(e).__name__}: {e}).") from e


def hyperparameters(ckpt):
    """The reference's hyper-parameters in a loaded Lightning checkpoint, as a dict ({} if none)."""
    if not isinstance(ckpt, dict):
        return {}
    params = ckpt.get("hyper_parameters") or {}
    params = params.get("args", params) if isinstance(params, dict) else params
    if isinstance(params, argparse.Namespace):
        params = vars(params)
    return dict(params) if isinstance(params, dict) else {}


def state_dict(ckpt):
    """The weights of a loaded checkpoint: its `state_dict`, or the checkpoint itself."""
    if isinstance(ckpt, dict) and isinstance(ckpt.get("state_dict"), dict):
        return ckpt["state_dict"]
    if isinstance(ckpt, dict):
        return ckpt
    raise ValueError(f"The checkpoint holds a {type(ckpt).__name__}, not a state_dict.")
