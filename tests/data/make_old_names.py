"""Writes `old_names.npz` and two `.keras` files with the class names used before the renames
(MultiHeadAttention, LayerNorm, BatchNorm, Conv3D), from a checkout of commit 44d07dc:

    cd <checkout of 44d07dc> && python <this file> <out folder>

`tests/test_pretrained.py` loads them with today's code and checks the outputs.
"""

import os
import sys

import numpy as np

import keras_videogpt as kv

out = sys.argv[1]
vqvae = kv.VQVAE(sequence_length=4, resolution=16, n_hiddens=16, n_res_layers=1,
                 embedding_dim=8, n_codes=16, downsample=(2, 2, 2), seed=0)
prior = kv.VideoGPT.from_vqvae(vqvae, hidden_dim=24, heads=2, layers=1, n_cond_frames=1,
                               resnet_blocks=(1, 1, 1, 1), resnet_width=4, resnet_dim=12)
rng = np.random.default_rng(0)
for model in (vqvae, prior):
    for v in model.weights:
        if v.dtype == "float32" and v is not prior.codebook:
            v.assign(rng.normal(0, 0.3, v.shape).astype("float32"))
video = rng.uniform(-0.5, 0.5, (2, 4, 16, 16, 3)).astype("float32")
codes = rng.integers(0, 16, (2, 2, 8, 8)).astype("int32")
recon = np.asarray(vqvae(video, training=False))
logits = np.asarray(prior({"codes": codes, "cond_frames": video[:, :1]}, training=False))
vqvae.save(os.path.join(out, "old_names_vqvae.keras"))
prior.save(os.path.join(out, "old_names_prior.keras"))
np.savez(os.path.join(out, "old_names.npz"), video=video, codes=codes, recon=recon,
         logits=logits)
