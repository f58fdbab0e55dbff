"""TF's direct conv against the Winograd conv, one VQ-VAE conv at a time: `python bench/convs.py`.

For each conv shape (the bair and tiny VQ-VAEs' stride-1 convs, the strided
ones as they run after `space_to_depth`, and widths in between), in one
process: the median time of the forward pass and of forward plus backward
(gradients of the input and the kernel), with `tf.nn.conv3d` in a TF graph
and with `layers.winograd.winograd_conv3d` as one XLA island, as
`SamePadConv3D` runs it; and the largest difference of each from a float64
conv. `winograd_taken` says whether the default policy (`winograd.wanted`)
picks Winograd for that shape on this machine.

The `transposed` group times the decoders' transposed convs (kernel 4) in
the four forms `SamePadConv3DTranspose` can take: TF's own transposed conv
with SAME padding (`transpose`, one oneDNN deconvolution on a CPU), one conv
over all output phases (`shared`), one TF conv per phase (`phases`), and one
Winograd conv per phase in an XLA island (`phases_winograd`);
`form_taken_inference` and `form_taken_training` name the ones the layer
takes on this machine, and errors are against the shared form in float64.

`--convs=bair` (or `tiny`, `widths`, `transposed`) picks groups. Prints one
JSON document.
"""

import argparse

import common
import numpy as np
import tensorflow as tf

# name: (batch, padded input [T, H, W, C], kernel [kT, kH, kW, C, F])
CONVS = {
    "bair": {
        "residual kernel 3, 240 -> 120": (1, (6, 34, 34, 240), (3, 3, 3, 240, 120)),
        "conv_last kernel 3, 240 -> 240": (1, (6, 34, 34, 240), (3, 3, 3, 240, 240)),
        "conv_1 as kernel (2, 4, 4), 480 -> 240": (1, (5, 35, 35, 480), (2, 4, 4, 480, 240)),
        "conv_0 as kernel 2, 24 -> 240": (1, (9, 33, 33, 24), (2, 2, 2, 24, 240)),
    },
    "tiny": {
        "residual kernel 3, 64 -> 32": (4, (6, 18, 18, 64), (3, 3, 3, 64, 32)),
        "conv_last kernel 3, 64 -> 64": (4, (6, 18, 18, 64), (3, 3, 3, 64, 64)),
        "conv_1 as kernel 2, 512 -> 64": (4, (5, 17, 17, 512), (2, 2, 2, 512, 64)),
    },
    "transposed": {
        # name: (batch, unpadded input [T, H, W, C], filters, strides)
        "bair convt_0, 240 -> 240, stride 2": (1, (4, 32, 32, 240), 240, (2, 2, 2)),
        "bair convt_1, 240 -> 3, stride (2, 1, 1)": (1, (8, 64, 64, 240), 3, (2, 1, 1)),
        "tiny convt_0, 64 -> 64, stride 2, batch 4": (4, (4, 16, 16, 64), 64, (2, 2, 2)),
        "tiny convt_0, 64 -> 64, stride 2, batch 1": (1, (4, 16, 16, 64), 64, (2, 2, 2)),
        "tiny convt_1, 64 -> 3, stride 2, batch 4": (4, (8, 32, 32, 64), 3, (2, 2, 2)),
    },
    "widths": {
        "kernel 3, 96 -> 96": (1, (6, 34, 34, 96), (3, 3, 3, 96, 96)),
        "kernel 3, 128 -> 128": (1, (6, 34, 34, 128), (3, 3, 3, 128, 128)),
        "kernel 3, 192 -> 96": (1, (6, 34, 34, 192), (3, 3, 3, 192, 96)),
    },
}


def direct(x, kernel):
    return tf.nn.conv3d(x, kernel, [1] * 5, "VALID")


def forward(conv):
    return tf.function(lambda x, kernel: conv(x, kernel))


def forward_backward(conv):
    @tf.function
    def step(x, kernel):
        with tf.GradientTape() as tape:
            tape.watch([x, kernel])
            y = conv(x, kernel)
            loss = tf.reduce_sum(y * y)
        return tape.gradient(loss, [x, kernel])
    return step


def time_forms(forms, x, kernel, exact, repeats, inputs=None):
    """Per form `name: conv`: median forward and forward-plus-backward ms, and the largest
    difference from `exact`. `inputs` maps a form to its own `x` (else `x`)."""
    row = {}
    for name, conv in forms.items():
        arg = (inputs or {}).get(name, x)
        fwd, both = forward(conv), forward_backward(conv)
        row[f"{name}_forward_ms"] = common.time_ms(lambda: fwd(arg, kernel).numpy(), repeats, 2)
        row[f"{name}_forward_backward_ms"] = common.time_ms(
            lambda: [g.numpy() for g in both(arg, kernel)], repeats, 2)
        row[f"{name}_max_error"] = float(np.abs(fwd(arg, kernel).numpy() - exact).max())
    return row


def measure(batch, shape, kernel_shape, repeats):
    from keras_videogpt.layers import winograd

    rng = np.random.default_rng(0)
    x64 = rng.normal(size=(batch,) + shape)
    k64 = rng.normal(size=kernel_shape) / np.sqrt(np.prod(kernel_shape[:4]))
    x, kernel = tf.constant(x64, tf.float32), tf.constant(k64, tf.float32)
    exact = tf.nn.conv3d(x64, k64, [1] * 5, "VALID").numpy()
    island = tf.function(winograd.winograd_conv3d, jit_compile=True, autograph=False)
    out = tuple(d - k + 1 for d, k in zip(shape[:3], kernel_shape[:3]))
    row = {"batch": batch, "winograd_taken": winograd.wanted(kernel_shape, out)}
    row.update(time_forms({"direct": direct, "winograd": island}, x, kernel, exact, repeats))
    row["forward_speedup"] = round(row["direct_forward_ms"] / row["winograd_forward_ms"], 2)
    row["forward_backward_speedup"] = round(
        row["direct_forward_backward_ms"] / row["winograd_forward_backward_ms"], 2)
    return row


def measure_transposed(batch, shape, filters, strides, repeats):
    from keras_videogpt.layers import conv as layers_conv
    from keras_videogpt.layers import winograd

    size = shape[:3]
    rng = np.random.default_rng(0)
    pads = [[0, 0]] + [list(p) for p in layers_conv.reference_padding((4, 4, 4), strides)]
    unpadded = rng.normal(size=(batch,) + shape)
    x64 = np.pad(unpadded, pads + [[0, 0]])
    k64 = rng.normal(size=(4, 4, 4, filters, shape[3])) / np.sqrt(8 * shape[3])
    x, kernel = tf.constant(x64, tf.float32), tf.constant(k64, tf.float32)

    def transpose(x, kernel):  # takes the unpadded input: SAME pads it
        out = [tf.shape(x)[0]] + [n * s for n, s in zip(size, strides)] + [filters]
        return tf.nn.conv3d_transpose(x, kernel, out, [1, *strides, 1], "SAME")

    def shared(x, kernel):
        z = tf.nn.conv3d(x, layers_conv.subpixel_kernel(kernel, strides), [1] * 5, "VALID")
        return layers_conv.depth_to_space(z, strides, size, filters)

    def phases(x, kernel):
        return layers_conv.conv_transpose_by_phases(x, kernel, strides, size)

    def phases_winograd(x, kernel):
        return layers_conv.conv_transpose_by_phases(x, kernel, strides, size,
                                                    winograd.winograd_conv3d)

    exact = shared(tf.constant(x64), tf.constant(k64)).numpy()
    forms = {"transpose": transpose, "shared": shared, "phases": phases,
             "phases_winograd": tf.function(phases_winograd, jit_compile=True,
                                            autograph=False)}
    row = {"batch": batch}
    for mode, training in (("inference", False), ("training", True)):
        row[f"form_taken_{mode}"] = layers_conv.phase_form(k64.shape, strides, size, training)
    row.update(time_forms(forms, x, kernel, exact, repeats,
                          {"transpose": tf.constant(unpadded, tf.float32)}))
    return row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--convs", default="bair,tiny,widths",
                        help="comma-separated groups of " + ", ".join(CONVS))
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    groups = common.check_names(parser, args.convs.split(","), CONVS, "conv group")
    if args.repeats < 1:
        parser.error(f"--repeats must be >= 1; got {args.repeats}")
    result = {}
    for group in groups:
        for name, spec in CONVS[group].items():
            if group == "transposed":
                row = measure_transposed(*spec, args.repeats)
            else:
                row = measure(*spec, args.repeats)
            result[f"{group}: {name}"] = row
            common.progress(name, {k: v for k, v in row.items() if k.endswith("_ms")})
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)


if __name__ == "__main__":
    main()
