"""The README's "Use it" example runs as written, with fewer steps."""

import re

import numpy as np

from conftest import ROOT


def use_it_example():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Use it", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "README.md has no python block under '## Use it'"
    return match.group(1)


def test_use_it_example_trains_and_samples():
    code = use_it_example()
    # Same calls, a couple of steps each, so the check takes under a minute instead of several.
    shortened, n = re.subn(r"epochs=\d+, steps_per_epoch=\d+", "epochs=1, steps_per_epoch=2", code)
    assert n == 2, "expected the VQ-VAE and the prior fit calls"
    shortened = shortened.replace("moving_mnist_dataset(512).shuffle(512)",
                                  "moving_mnist_dataset(16).shuffle(16)")
    assert "moving_mnist_dataset(16)" in shortened
    scope = {}
    exec(compile(shortened, "README.md", "exec"), scope)

    vqvae, prior, out = scope["vqvae"], scope["prior"], scope["out"]
    for model, keys in ((vqvae, ("loss", "recon_loss", "commitment_loss", "perplexity",
                                  "codes_used")),
                        (prior, ("loss", "bits_per_dim"))):
        logged = model.history.history
        assert set(keys) <= set(logged), (keys, sorted(logged))
        assert all(np.isfinite(logged[k]).all() for k in keys)
    # The shapes and dtypes the example's comments promise.
    assert out["codes"].shape == (4, 4, 16, 16) and out["codes"].dtype == np.int32
    assert out["video"].shape == (4, 16, 64, 64, 3)
    video = np.asarray(out["video"])
    assert video.min() >= -0.5 - 1e-6 and video.max() <= 0.5 + 1e-6
    assert out["video_uint8"].dtype == np.uint8 and out["video_uint8"].shape == (4, 16, 64, 64, 3)
    # The shipped weights drew their videos.
    drawn = scope["drawn"]
    assert drawn["video_uint8"].shape == (4, 16, 64, 64, 3) and drawn["codes"].shape == (4, 8, 16, 16)


def test_readme_stays_short_and_links_what_exists():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 150
    assert text.startswith("# keras-videogpt\n\n```bash\nmake demo")
    for link in re.findall(r"\]\(([^)#]+)\)", text):
        if not link.startswith("http"):
            assert (ROOT / link).exists(), link
    for name in re.findall(r"`python -m (train\.[a-z][a-z0-9_]*|export\.[a-z][a-z0-9_]*)", text):
        assert (ROOT / (name.replace(".", "/") + ".py")).exists(), name
