"""Writes torch_rounding.npz: PyTorch's float32 sums and matmuls, for `reference_rounding`.

Run with PyTorch installed (2.13, CPU, x86-64 here); the tests only read the file:

    python tests/data/make_torch_rounding.py
"""

import pathlib

import numpy as np
import torch

WIDTHS = (8, 40, 64, 128, 200, 256, 320, 512)


def main():
    rng = np.random.default_rng(2021)
    arrays = {"torch_version": np.array(torch.__version__)}
    for width in WIDTHS:
        z = rng.normal(size=(12, width)).astype("float32")
        e = rng.normal(size=(20, width)).astype("float32")
        zt, et = torch.from_numpy(z), torch.from_numpy(e)
        arrays[f"z{width}"] = z
        arrays[f"e{width}"] = e
        arrays[f"dot{width}"] = (zt @ et.t()).numpy()
        arrays[f"zsum{width}"] = (zt ** 2).sum(dim=1).numpy()
        arrays[f"esum{width}"] = (et.t() ** 2).sum(dim=0).numpy()
    out = pathlib.Path(__file__).with_name("torch_rounding.npz")
    np.savez_compressed(out, **arrays)
    print("wrote", out)


if __name__ == "__main__":
    main()
