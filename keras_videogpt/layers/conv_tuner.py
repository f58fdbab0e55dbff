"""Picks the fastest form of a convolution on this machine, by timing each once per shape.

`SamePadConv3D` and `SamePadConv3DTranspose` can run one convolution in
several forms whose values agree to float32 rounding: TF's direct conv or
Winograd's (`winograd.IslandWinograd`, with its matrix products in TF or in
XLA), or, for narrow convs, one matrix product (`gemm_conv`); a strided conv or
a stride-1 conv on blocks (`conv.space_to_depth`); TF's transposed conv, one
conv over all output phases or one per phase. Which is fastest depends on the
CPU more than on the shape. On an AMD EPYC with AVX-512 the bair decoder's
last transposed conv (240 -> 3 channels) ran fastest as one conv over its
phases; on an AMD EPYC with AVX2 only, the same form took 3.3x TF's
transposed conv forward and 14x with its gradient (`bench/README.md`). A
fixed rule tuned on one machine loses on the other.

So on a CPU the first call of a conv at a new shape times its forms on random
inputs of that shape (forward at inference; in training, forward and the
gradients the step will take: the kernel's, and the input's unless a recording
tape shows nobody asks for it, as for a model's first conv, whose input is
data), and every later call at that shape takes the fastest. The choice is
kept in a file (`cache_path`), keyed by the CPU, the thread count and TF's
version, so later processes on the same machine skip the timing. Forms are
timed on at most `TIMING_BATCH` clips, and one choice serves every batch of
that many clips or more. At first use it costs seconds per conv shape, most of
it compiling the Winograd forms' XLA islands and calling forms that turn out
far slower (TF's transposed conv to 3 channels took 3.2 s a call forward and
7.5 s with its gradients on an AVX2 CPU, against 9-52 ms for one conv over its
phases): such forms are dropped after their first timed call. Tuning is
skipped (the fixed rule of `winograd.wanted` and `conv.phase_form` decides)
for convs too small to matter (`MIN_FLOPS`), for symbolic or partly unknown
shapes, on a GPU or TPU, under a `tf.distribute` strategy (replicas must trace
alike), inside `xla_island.no_islands()` (the exported graph stays fixed), and
once `set_tuning(False)` is called (or the environment sets
`KERAS_VIDEOGPT_CONV_TUNING=0`, as the test suite does) or
`winograd.set_winograd` forces a choice.

Example:
>>> set_tuning(False)   # the fixed rule everywhere, e.g. for repeatable timings
>>> set_tuning(None)    # back to the default: tune where it can
"""

import functools
import hashlib
import json
import os
import platform
import threading
import time

import numpy as np
import tensorflow as tf

from keras_videogpt.layers import winograd
from keras_videogpt.layers.xla_island import islands_enabled

try:  # which tensors a gradient tape records: TF has no public way to ask
    from tensorflow.python.eager import record
except ImportError:  # a later TF may move it: then every training conv times both gradients
    record = None

# Convs below this many multiply-adds (times 2) a call keep the fixed rule: on a 2-core CPU
# they take about a millisecond, and timing their forms would cost more than it could save.
MIN_FLOPS = 2e8
# Winograd's forms are timed only from this many channels in and out: below it their
# transforms cost more than the products they save (3 filters: 4-15x TF's conv).
WINOGRAD_MIN_CHANNELS = 32
# Each form is called once untimed (it traces and compiles), then once more as a probe: a
# form whose probe takes FAR_SLOWER times the fastest probe is not called again. The rest are
# timed in rounds of one call per form, REPEATS rounds; a form whose best of its first two
# timed calls is more than DROP_AFTER times the best of all is not timed again. One timed call
# is not enough to drop a form by a small margin: on an AVX2 CPU a form's first timed call
# after one warm-up took 1.5-2x its later ones (92 against 42-65 ms, Winograd on the bair
# block's kernel-3 conv), which dropped the fastest form. FAR_SLOWER is out of that noise's
# reach, and saves calling forms of seconds a call (a transposed conv to 3 channels in TF took
# 3-8 s, against 9-52 ms for the fastest form) four times more.
FAR_SLOWER = 4.0
DROP_AFTER = 1.25
REPEATS = 3

# Forms are timed on at most this many clips of the batch: the cost of a conv grows with the
# batch, and which form wins hardly does.
TIMING_BATCH = 2

_STATE = {"enabled": False if os.environ.get("KERAS_VIDEOGPT_CONV_TUNING") == "0" else None}
_CHOICES = {}
_TIMINGS = {}
_LOCK = threading.Lock()
_FILE = {"path": None, "entries": None}


def cache_path():
    """The file that keeps the choices: `$KERAS_VIDEOGPT_CONV_FORMS`, else
    `~/.cache/keras_videogpt/conv_forms.json`."""
    return os.environ.get("KERAS_VIDEOGPT_CONV_FORMS") or os.path.join(
        os.path.expanduser("~"), ".cache", "keras_videogpt", "conv_forms.json")


@functools.lru_cache(maxsize=None)
def machine():
    """What the timings hold for: the CPU's model and flags, the threads TF uses, TF's version."""
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            lines = [line for line in f if line.startswith(("model name", "flags"))]
        cpu = "".join(sorted(set(lines)))
    except OSError:
        pass
    threads = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    text = f"{cpu}|{threads}|{tf.__version__}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _file_entries():
    path = cache_path()
    if _FILE["path"] != path:
        entries = {}
        try:
            with open(path) as f:
                entries = json.load(f)
        except (OSError, ValueError):
            pass
        _FILE.update(path=path, entries=entries if isinstance(entries, dict) else {})
    return _FILE["entries"]


def _save(file_key, form):
    entries = _file_entries()
    entries[file_key] = form
    path = cache_path()
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        temp = f"{path}.{os.getpid()}.tmp"
        with open(temp, "w") as f:
            json.dump(entries, f, indent=0, sort_keys=True)
        os.replace(temp, path)
    except OSError:  # a read-only home: the choice still holds for this process
        pass


def set_tuning(enabled):
    """Whether convs pick their form by timing, for this process.

    Args:
        enabled: `None` (the default): where it can (see the module's
            docstring); `True`: also for convs below `MIN_FLOPS`; `False`:
            never, the fixed rule everywhere.
    """
    if enabled not in (None, True, False):
        raise ValueError(f"enabled must be None, True or False; got {enabled!r}.")
    _STATE["enabled"] = enabled


def tuning():
    """The setting of `set_tuning` (or of `KERAS_VIDEOGPT_CONV_TUNING=0`): None, True or False."""
    return _STATE["enabled"]


def choices():
    """What tuning chose so far: `{key: (form, {form: seconds})}`, key as in `pick`."""
    with _LOCK:
        return {key: (form, dict(_TIMINGS.get(key, {}))) for key, form in _CHOICES.items()}


def clear():
    """Forgets this process's choices (the file of `cache_path` stays)."""
    with _LOCK:
        _CHOICES.clear()
        _TIMINGS.clear()
        _FILE.update(path=None, entries=None)


def active(x, flops):
    """Whether a conv on `x` of `flops` (2 x multiply-adds) picks its form by timing."""
    enabled = _STATE["enabled"]
    if enabled is False or winograd.policy() is not None:
        return False
    if not isinstance(x, tf.Tensor) or not x.shape.is_fully_defined():
        return False
    if not islands_enabled() or tf.distribute.has_strategy() or not winograd._cpu_only():
        return False
    return enabled is True or flops >= MIN_FLOPS


def pick(key, forms, default, x, kernel_shape, training, flops, narrow=None):
    """The name of the form of `forms` that a conv runs for this call.

    Args:
        key: a hashable naming the conv and its shapes (one choice per key).
        forms: `{name: fn(x, kernel)}`, each the same conv in another form.
        default: the fixed rule's choice, a key of `forms`, taken where
            tuning is not `active`.
        x: the conv's input (its shape and dtype are timed).
        kernel_shape: the kernel's shape.
        training: time the gradients too (`gradients_timed` says which).
        flops: 2 x the conv's multiply-adds, for `MIN_FLOPS`.
        narrow: the fewer of the conv's input and output channels: below
            `WINOGRAD_MIN_CHANNELS`, forms whose names hold `winograd` are not timed.
    """
    if narrow is not None and int(narrow) < WINOGRAD_MIN_CHANNELS:
        forms = {name: fn for name, fn in forms.items()
                 if name == default or "winograd" not in name}
    if len(forms) < 2 or not active(x, flops):
        return default
    shape = (min(int(x.shape[0]), TIMING_BATCH), *x.shape[1:])
    gradients = gradients_timed(x, training)
    key = (key, shape, x.dtype.name, tuple(kernel_shape), gradients)
    with _LOCK:
        if key in _CHOICES:
            return _CHOICES[key]
        file_key = f"{machine()}|{key!r}|{','.join(sorted(forms))}"
        kept = _file_entries().get(file_key)
        if kept in forms:
            _CHOICES[key] = kept
            return kept
    seconds = time_forms(forms, shape, tuple(kernel_shape), x.dtype, gradients)
    best = min(seconds, key=seconds.get)
    with _LOCK:
        _CHOICES[key], _TIMINGS[key] = best, seconds
        _save(file_key, best)
    return best


def gradients_timed(x, training):
    """Which gradients a conv on `x` is timed with: `()` at inference; in training
    `("kernel",)` where a tape records this call but not `x` (the input is data: a model's
    first conv), else `("input", "kernel")`."""
    if not training:
        return ()
    if record is None or not record.could_possibly_record():
        return ("input", "kernel")
    return ("input", "kernel") if record.should_record_backprop([x]) else ("kernel",)


def time_forms(forms, x_shape, kernel_shape, dtype=tf.float32, gradients=()):
    """Seconds per call of each form on random inputs of these shapes, forward and the
    `gradients` named (`"input"`, `"kernel"`): the best of `REPEATS` rounds after a call
    that traces and compiles and a probe call. A form whose probe takes `FAR_SLOWER` times
    the fastest probe reports its probe; one slower than `DROP_AFTER` times the best after
    two rounds is not timed again. Runs eagerly, even while a `tf.function` is being
    traced."""
    logger = tf.get_logger()
    level = logger.level
    # Each form is a new function traced once: TF would warn of "excessive retracing".
    logger.setLevel("ERROR")
    try:
        return _time_forms(forms, x_shape, kernel_shape, dtype, tuple(gradients))
    finally:
        logger.setLevel(level)


def _time_forms(forms, x_shape, kernel_shape, dtype, gradients):
    with tf.init_scope():
        x = tf.cast(tf.random.stateless_uniform(x_shape, (1, 2), -0.5, 0.5), dtype)
        kernel = tf.cast(tf.random.stateless_uniform(kernel_shape, (3, 4), -0.1, 0.1), dtype)
        runs = {name: _compiled(fn, gradients) for name, fn in forms.items()}
        for run in runs.values():
            run(x, kernel).numpy()
        probes = {name: _seconds(run, x, kernel) for name, run in runs.items()}
        fastest = min(probes.values())
        kept = [name for name in runs if probes[name] < FAR_SLOWER * fastest]
        seconds = {name: [] for name in kept}
        for round_ in range(REPEATS):
            for name in kept:  # one call each a round, so that a drift hits every form
                seconds[name].append(_seconds(runs[name], x, kernel))
            if round_ == 1:
                best = min(min(s) for s in seconds.values())
                kept = [name for name in kept if min(seconds[name]) <= DROP_AFTER * best]
    return {name: min(seconds[name]) if name in seconds else probes[name] for name in runs}


def _compiled(fn, gradients):
    def forward(x, kernel):
        return tf.reduce_sum(tf.cast(fn(x, kernel), tf.float32))

    def with_gradients(x, kernel):
        y = tf.cast(fn(x, kernel), tf.float32)
        wrt = [kernel] if gradients == ("kernel",) else [x, kernel]
        # Symbolic gradients: `tf.init_scope` stops every tape, even one opened inside it.
        grads = tf.gradients(0.5 * tf.reduce_sum(y * y), wrt)
        return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    return tf.function(with_gradients if gradients else forward, autograph=False)


def _seconds(run, x, kernel):
    start = time.perf_counter()
    run(x, kernel).numpy()
    return time.perf_counter() - start


def conv_flops(batch, outputs, kernel_shape):
    """2 x multiply-adds of a conv with `outputs` output positions per clip and
    `kernel_shape` `[kT, kH, kW, C, F]`."""
    return 2.0 * batch * float(np.prod(outputs)) * float(np.prod(kernel_shape))
