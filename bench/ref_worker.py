"""The reference's VQ-VAE stages, timed on request: the other side of `bench/paired.py`.

Runs under the reference's own Python (see `../shared/reference-bench/README.md`), never
ours: `REF_VIDEOGPT=CHECKOUT REF_PYTHON bench/ref_worker.py bair`. It builds the
reference's VQ-VAE of a `bench/compare.py` config (random weights, seed 0, as
`ref_bench.py` does), then reads commands from stdin, one per line:

- `STAGE REPEATS WARMUP`, with STAGE `train`, `encode` or `decode`: runs the stage
  WARMUP times, then REPEATS times timed, and prints `{"stage": ..., "seconds": [...]}`;
- `quit`: exits.

Between commands it waits on stdin and uses no CPU, so the two sides never run at once.
"""

import argparse
import json
import os
import sys

import common  # bench/common.py: standard library only, so it loads under the reference's Python

HERE = os.path.dirname(os.path.abspath(__file__))
REF_BENCH_DIR = os.path.join(os.path.dirname(os.path.dirname(HERE)), "shared", "reference-bench")


def stages(name):
    """The reference's VQ-VAE of config `name` and its stages, as `bench/compare.py` times
    them (`ref_bench.py`'s calls): a train step at the config's batch, encode and decode
    of one video."""
    import torch

    sys.path.insert(0, REF_BENCH_DIR)
    from compare import CONFIGS
    from ref_fixtures import load_reference

    torch.set_num_threads(2)
    config = CONFIGS[name]
    vq, _ = load_reference()
    args = argparse.Namespace(sequence_length=16, resolution=64, **config["vq"])
    torch.manual_seed(0)
    model = vq.VQVAE(args)
    video = torch.rand(config["batch"], 3, 16, 64, 64) - 0.5
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    one = video[:1]
    with torch.no_grad():
        model.eval()
        codes = model.encode(one)

    def train():
        model.train()
        optimizer.zero_grad()
        recon_loss, _, out = model(video)
        (recon_loss + out["commitment_loss"]).backward()
        optimizer.step()

    def inference(fn):
        def run():
            model.eval()
            with torch.no_grad():
                fn()
        return run

    return {"train": train, "encode": inference(lambda: model.encode(one)),
            "decode": inference(lambda: model.decode(codes))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", choices=("tiny", "bair"))
    args = parser.parse_args()
    if not os.environ.get("REF_VIDEOGPT"):
        parser.error("set REF_VIDEOGPT to a checkout of the reference")
    runs = stages(args.config)
    print(json.dumps({"ready": sorted(runs)}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        stage, repeats, warmup = words[0], int(words[1]), int(words[2])
        seconds = common.wall_times(runs[stage], repeats, warmup)
        print(json.dumps({"stage": stage, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
