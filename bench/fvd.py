"""FVD speed and memory: `python bench/fvd.py [--quick]` prints JSON.

For uint8 clips of 16x64x64 (the BAIR and demo shape), per I3D batch size:
- clips/s through preprocessing (TF1 bilinear resize to 224x224) and I3D;
- the peak resident memory of a fresh process that does only that, which is
  what `metrics.fvd.default_batch_size` budgets for;
- the offline Keras port called in-process against the same network exported
  with `python -m export.i3d` and loaded with `hub.load` (the path the TF-Hub
  handle takes).
Each configuration runs in its own process, so the peaks do not mix.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common


def measure(source, batch_size, clips):
    import numpy as np

    from keras_videogpt.metrics.fvd import embed
    from keras_videogpt.metrics.i3d import load_i3d

    i3d = load_i3d(offline=True) if source == "offline" else load_i3d(source)
    videos = np.random.default_rng(0).integers(0, 256, (clips, 16, 64, 64, 3), dtype="uint8")
    embed(i3d, videos[:batch_size], batch_size)  # trace / warm up
    start = time.perf_counter()
    stats = embed(i3d, videos, batch_size)
    seconds = time.perf_counter() - start
    assert stats.count == clips
    return {"clips_per_s": round(clips / seconds, 3), "seconds": round(seconds, 2),
            "clips": clips, "peak_rss_mb": common.peak_rss_mb()}


def child(source, batch_size, clips):
    out = subprocess.run([sys.executable, __file__, "--child", source, str(batch_size),
                          str(clips)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="batch sizes 1 and 4 only")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        source, batch_size, clips = args.child
        print(json.dumps(measure(source, int(batch_size), int(clips))))
        return
    from keras_videogpt.metrics.fvd import default_batch_size

    sizes = (1, 4) if args.quick else (1, 4, 8)
    result = {"clip": [16, 64, 64, 3], "default_batch_size_16_frames": default_batch_size(16),
              "offline": {f"batch{b}": child("offline", b, 2 * b if b > 1 else 4)
                          for b in sizes}}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "export.i3d", f"--out={tmp}/i3d"], check=True,
                       capture_output=True, cwd=os.path.dirname(os.path.dirname(
                           os.path.abspath(__file__))))
        result["hub_load_exported"] = {"batch4": child(f"{tmp}/i3d", 4, 8)}
    result["hub_over_offline_batch4"] = round(
        result["hub_load_exported"]["batch4"]["clips_per_s"]
        / result["offline"]["batch4"]["clips_per_s"], 2)
    common.emit(result)


if __name__ == "__main__":
    main()
