"""notebooks/quickstart.ipynb runs headless on CPU, so it can't rot (its install cell, which
needs the network, is skipped by its tag; the TPU and GPU paths can't run here)."""

import os

import pytest

from conftest import ROOT


@pytest.mark.slow
def test_quickstart_notebook_runs_on_cpu(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    nb = nbformat.read(ROOT / "notebooks" / "quickstart.ipynb", as_version=4)
    install = [c for c in nb.cells if "install" in c.get("metadata", {}).get("tags", [])]
    assert len(install) == 1 and "pip install" in install[0].source
    nb.cells = [c for c in nb.cells if c not in install]
    monkeypatch.setenv("VIDEOGPT_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("PYTHONPATH", str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nbclient.NotebookClient(nb, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()

    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    images = [o for o in outputs if "image/gif" in o.get("data", {})]
    assert len(images) == 4  # reconstructions, samples, pretrained samples, served
    text = "".join(o.get("text", "") for o in outputs)
    assert "CPU 1 replica(s); steps: (2, 2)" in text
    assert "FVD" in text and "same codes as in Python: True" in text
    for name in ("reconstructions.gif", "samples.gif", "pretrained_samples.gif", "served.gif"):
        assert (tmp_path / name).exists(), name
