"""Timing helpers shared by the benchmarks. Every figure is measured in the run that prints it."""

import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def wall_times(fn, repeats, warmup=0):
    """Wall seconds of each of `repeats` calls of `fn()`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - start)
    return seconds


def time_ms(fn, repeats=3, warmup=1):
    """Median wall time of `fn()` in ms, after `warmup` calls (compilation)."""
    times = sorted(wall_times(fn, repeats, warmup))
    return round(times[len(times) // 2] * 1000, 2)


def check_names(parser, names, known, what):
    """`names`, each of which must be in `known`; an unknown one is a usage error naming it."""
    for name in names:
        if name not in known:
            parser.error(f"unknown {what} {name!r}; choose from {', '.join(known)}")
    return names


def peak_rss_mb():
    """Peak resident memory of this process so far, in MiB (Linux ru_maxrss is KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(result):
    """Prints the run's one JSON document: the only thing a benchmark writes to stdout.

    Where the run used the library's convs, it also says how they chose their forms:
    `"timed"` (`layers.conv_tuner`, the default) or `"fixed rule"`
    (`KERAS_VIDEOGPT_CONV_TUNING=0`), and how many conv shapes were timed or read from the
    file of earlier timings."""
    tuner = sys.modules.get("keras_videogpt.layers.conv_tuner")
    if tuner is not None and "conv_forms" not in result:
        result["conv_forms"] = "fixed rule" if tuner.tuning() is False else "timed"
        result["conv_shapes_tuned"] = len(tuner.choices())
    print(json.dumps(result, indent=1))


def progress(*parts):
    """A progress line on stderr, so that stdout stays one JSON document (`emit`)."""
    print(*parts, file=sys.stderr, flush=True)
