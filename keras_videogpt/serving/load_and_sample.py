"""Draw videos from an exported sampler with TensorFlow alone (no keras_videogpt):

    python keras_videogpt/serving/load_and_sample.py runs/demo/serving/videogpt/1 --batch_size=1 --seed=0 \
        --out=runs/demo/served.npz

Prints JSON: the load time, the first call's time (tracing included) and a
second call's time, tokens/s, and the shapes. This is what a serving process
does; the demo and `bench/export.py` run it in a fresh process.
"""

import argparse
import json
import sys
import time

import numpy as np


def load_and_sample(path, batch_size=1, seed=(0, 0), temperature=1.0, top_k=0, top_p=1.0,
                    repeats=1):
    import tensorflow as tf

    start = time.perf_counter()
    model = tf.saved_model.load(path)
    loaded = time.perf_counter() - start
    args = dict(batch_size=tf.constant(batch_size, tf.int32),
                seed=tf.constant(seed, tf.int64), temperature=tf.constant(temperature),
                top_k=tf.constant(top_k, tf.int32), top_p=tf.constant(top_p))
    fn = model.signatures["sample"]
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        out = fn(**args)
        times.append(time.perf_counter() - start)
    codes, video = out["codes"].numpy(), out["video"].numpy()
    tokens = int(np.prod(codes.shape))
    stats = {"load_seconds": round(loaded, 3), "first_call_seconds": round(times[0], 3),
             "call_seconds": round(min(times[1:]), 3) if repeats else None,
             "tokens_per_second": round(tokens / min(times[1:] or times), 1),
             "video_shape": list(video.shape), "codes_shape": list(codes.shape),
             "imports_keras_videogpt": "keras_videogpt" in sys.modules}
    return stats, codes, video


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="The version folder (…/videogpt/1).")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--seed", type=int, nargs=2, default=[0, 0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", help=".npz for the codes and video.")
    args = parser.parse_args()
    stats, codes, video = load_and_sample(args.path, args.batch_size, args.seed,
                                          repeats=args.repeats)
    if args.out:
        np.savez(args.out, codes=codes, video=video)
    print(json.dumps(stats))


if __name__ == "__main__":
    main()
