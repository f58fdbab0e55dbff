"""Timing helpers shared by the benchmarks. Every figure is measured in the run that prints it."""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def time_ms(fn, repeats=3, warmup=1):
    """Median wall time of `fn()` in ms, after `warmup` calls (compilation)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return round(times[len(times) // 2], 2)


def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (Linux ru_maxrss is KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result):
    print(json.dumps(result, indent=1))
