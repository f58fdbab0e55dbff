"""Our VQ-VAE stages against the reference's, in finely interleaved pairs: `python bench/paired.py`.

`bench/compare.py` runs each side's whole bench in turn, minutes apart. On
machines whose speed drifts by up to 1.7x within minutes (a shared 2-core
VM: the same decode took 550-590 ms, then 330-340 ms ten minutes later,
in this session of 2026-12-01), its per-round ratios of the bair decode
spread from 1.07 to 1.42. Here both sides stay loaded: the reference in a
worker process (`bench/ref_worker.py`, under its own Python) that waits on
stdin between commands, ours in this process. Each pair times a few calls
of one stage on one side, then on the other, in ABBA order, so a pair's
two halves are seconds apart and a linear drift cancels over two pairs.
The sides never run at once.

    python bench/paired.py --ref_python=VENV/bin/python --ref_videogpt=CHECKOUT \\
        --configs=bair --stages=decode,encode,train --pairs=8

For each config and stage: the median time per side, `speedup` (the median
of the pairs' ratios, reference time / ours) and every pair's ratio.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import common
from compare import CONFIGS, NAMES, vqvae_stages

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = ("train", "encode", "decode")
# Seconds to wait after a side finishes before timing the other: thread pools spin a
# little after their work ends.
SETTLE_S = 0.3


class Reference:
    """The reference worker: a process that times its stages when asked."""

    def __init__(self, name, python, checkout):
        self.proc = subprocess.Popen(
            [python, os.path.join(HERE, "ref_worker.py"), name], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=dict(os.environ, REF_VIDEOGPT=checkout))
        self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the reference worker exited with {self.proc.wait()}; "
                               "run bench/ref_worker.py by hand to see why")
        return json.loads(line)

    def time(self, stage, repeats, warmup):
        self.proc.stdin.write(f"{stage} {repeats} {warmup}\n")
        self.proc.stdin.flush()
        return self._read()["seconds"]

    def close(self):
        self.proc.stdin.write("quit\n")
        self.proc.stdin.close()
        self.proc.wait()


def paired(name, stage_names, pairs, repeats, reference):
    """Per stage: both sides' median seconds over all pairs, and each pair's ratio."""
    ours, _ = vqvae_stages(name)
    rows = {}
    for stage in stage_names:
        warm = 1 if stage == "train" else 2
        reference.time(stage, 1, warm)
        common.wall_times(ours[stage], 1, warm)
        ref_s, our_s, ratios = [], [], []
        for i in range(pairs):
            halves = {}
            for side in (("ref", "ours") if i % 4 in (0, 3) else ("ours", "ref")):
                time.sleep(SETTLE_S)
                if side == "ref":
                    halves[side] = statistics.median(reference.time(stage, repeats, 0))
                else:
                    halves[side] = statistics.median(common.wall_times(ours[stage], repeats))
            ref_s.append(halves["ref"])
            our_s.append(halves["ours"])
            ratios.append(halves["ref"] / halves["ours"])
        rows[stage] = {"ours_s": round(statistics.median(our_s), 4),
                       "reference_s": round(statistics.median(ref_s), 4),
                       "speedup": round(statistics.median(ratios), 2),
                       "speedup_per_pair": [round(r, 2) for r in ratios]}
        print(json.dumps({NAMES[name]: {stage: rows[stage]}}), file=sys.stderr, flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="bair")
    parser.add_argument("--stages", default="decode,encode,train")
    parser.add_argument("--pairs", type=int, default=8, help="pairs per stage (ABBA order)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed calls per side in a pair; the pair uses their median")
    parser.add_argument("--ref_python", default=os.environ.get("REF_PYTHON"))
    parser.add_argument("--ref_videogpt", default=os.environ.get("REF_VIDEOGPT"))
    args = parser.parse_args()
    configs = common.check_names(parser, args.configs.split(","), CONFIGS, "config")
    stages = common.check_names(parser, args.stages.split(","), STAGES, "stage")
    if args.pairs < 1 or args.repeats < 1:
        parser.error("--pairs and --repeats must be at least 1")
    if not (args.ref_python and args.ref_videogpt):
        parser.error("pass --ref_python and --ref_videogpt (see "
                     "../shared/reference-bench/README.md); bench/compare.py times ours alone")
    result = {"device": "cpu", "pairs": args.pairs, "repeats": args.repeats, "configs": {}}
    for name in configs:
        reference = Reference(name, args.ref_python, args.ref_videogpt)
        try:
            result["configs"][NAMES[name]] = paired(name, stages, args.pairs, args.repeats,
                                                    reference)
        finally:
            reference.close()
    common.emit(result)


if __name__ == "__main__":
    main()
