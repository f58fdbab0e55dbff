"""Same-padded 3D convolution and transposed convolution, padded as in VideoGPT."""

import keras
from keras import ops


def _triple(value, name):
    if isinstance(value, int):
        return (value,) * 3
    value = tuple(int(v) for v in value)
    if len(value) != 3:
        raise ValueError(f"`{name}` must be an int or 3 ints, got {value}.")
    return value


def reference_padding(kernel_size, strides):
    """Zero padding per axis that VideoGPT's `SamePadConv3d` applies.

    The total padding on an axis is `kernel - stride`; the front gets the
    larger half (`ceil`), the back the smaller (`floor`).

    Returns:
        A list of three `(front, back)` pairs, for T, H and W.
    """
    return [((k - s + 1) // 2, (k - s) // 2) for k, s in zip(kernel_size, strides)]


def torch_default_initializer():
    """PyTorch's default Conv/Linear init: uniform(+-1/sqrt(fan_in))."""
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
    )


def space_to_depth(x, block):
    """Moves `block` (bt, bh, bw) neighbourhoods of `[B, T, H, W, C]` into channels.

    With `kernel_to_depth`, a conv of kernel k and stride s (k divisible by
    s) becomes a stride-1 conv of kernel k/s on `space_to_depth(x, s)`: the
    same products, summed in another order. We use it because TF's CPU
    kernels for strided Conv3D gradients fall back to a path that is
    50 to 200 times slower at small batch sizes (1 or 2 clips per replica
    on a 2-core machine; `bench/vqvae.py` shows it); the stride-1 form is
    fast at every batch size, and no slower elsewhere.
    """
    _, t, h, w, c = x.shape
    bt, bh, bw = block
    x = ops.reshape(x, (-1, t // bt, bt, h // bh, bh, w // bw, bw, c))
    x = ops.transpose(x, (0, 1, 3, 5, 2, 4, 6, 7))
    return ops.reshape(x, (-1, t // bt, h // bh, w // bw, bt * bh * bw * c))


def kernel_to_depth(kernel, block):
    """Rearranges a `[kT, kH, kW, C, F]` kernel to match `space_to_depth(x, block)`."""
    kt, kh, kw, c, f = kernel.shape
    bt, bh, bw = block
    kernel = ops.reshape(kernel, (kt // bt, bt, kh // bh, bh, kw // bw, bw, c, f))
    kernel = ops.transpose(kernel, (0, 2, 4, 1, 3, 5, 6, 7))
    return ops.reshape(kernel, (kt // bt, kh // bh, kw // bw, bt * bh * bw * c, f))


@keras.saving.register_keras_serializable(package="keras_videogpt")
class SamePadConv3D(keras.layers.Layer):
    """3D convolution whose output is `input / stride` on every axis.

    Pads `kernel - stride` zeros per axis (extra one at the front) and then
    runs a VALID convolution, exactly as the reference does. Input and output
    are channels-last, `[B, T, H, W, C]`.

    Args:
        filters: number of output channels.
        kernel_size: int or 3 ints.
        strides: int or 3 ints.
        use_bias: whether to add a bias.

    Example:
    >>> conv = SamePadConv3D(8, 4, strides=2)
    >>> conv(keras.ops.zeros((1, 4, 8, 8, 3))).shape
    (1, 2, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, strides=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.strides = _triple(strides, "strides")
        self.use_bias = use_bias
        self._padding = [[0, 0]] + [list(p) for p in reference_padding(
            self.kernel_size, self.strides)] + [[0, 0]]

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (in_channels, self.filters),
            initializer=torch_default_initializer(),
        )
        if self.use_bias:
            bound = 1.0 / (in_channels * self.kernel_size[0] * self.kernel_size[1]
                           * self.kernel_size[2]) ** 0.5
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,),
                initializer=keras.initializers.RandomUniform(-bound, bound),
            )

    def call(self, x):
        x = ops.pad(x, self._padding)
        if self._as_stride_one(x.shape):
            y = ops.conv(space_to_depth(x, self.strides),
                         kernel_to_depth(self.kernel, self.strides), padding="valid")
        else:
            y = ops.conv(x, self.kernel, strides=self.strides, padding="valid")
        if self.use_bias:
            y = y + self.bias
        return y

    def _as_stride_one(self, padded_shape):
        """Whether this strided conv can run as a stride-1 conv on blocks (see `space_to_depth`)."""
        if all(s == 1 for s in self.strides):
            return False
        return all(k % s == 0 and d is not None and d % s == 0
                   for k, s, d in zip(self.kernel_size, self.strides, padded_shape[1:4]))

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else d // s
                   for d, s in zip(input_shape[1:4], self.strides)]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      strides=self.strides, use_bias=self.use_bias)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class SamePadConv3DTranspose(keras.layers.Layer):
    """3D transposed convolution whose output is `input * stride` per axis.

    Reproduces the reference's `SamePadConvTranspose3d`: the input is zero-padded
    as in `SamePadConv3D`, the full transposed convolution is computed
    (`(n - 1) * s + k` outputs per axis), and `k - 1` outputs are cropped from
    each side, which is what PyTorch's `padding = k - 1` does. The kernel has the
    layout `[kT, kH, kW, filters, in_channels]`.

    Args:
        filters: number of output channels.
        kernel_size: int or 3 ints.
        strides: int or 3 ints.
        use_bias: whether to add a bias.

    Example:
    >>> up = SamePadConv3DTranspose(3, 4, strides=(1, 2, 2))
    >>> up(keras.ops.zeros((1, 4, 8, 8, 16))).shape
    (1, 4, 16, 16, 3)
    """

    def __init__(self, filters, kernel_size, strides=1, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.kernel_size = _triple(kernel_size, "kernel_size")
        self.strides = _triple(strides, "strides")
        self.use_bias = use_bias
        self._padding = [[0, 0]] + [list(p) for p in reference_padding(
            self.kernel_size, self.strides)] + [[0, 0]]

    def build(self, input_shape):
        in_channels = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (self.filters, in_channels),
            initializer=keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"),
        )
        if self.use_bias:
            bound = 1.0 / (self.filters * self.kernel_size[0] * self.kernel_size[1]
                           * self.kernel_size[2]) ** 0.5
            self.bias = self.add_weight(
                name="bias", shape=(self.filters,),
                initializer=keras.initializers.RandomUniform(-bound, bound),
            )

    def call(self, x):
        x = ops.pad(x, self._padding)
        y = ops.conv_transpose(x, self.kernel, strides=self.strides, padding="valid")
        kt, kh, kw = (k - 1 for k in self.kernel_size)
        y = y[:, kt:y.shape[1] - kt, kh:y.shape[2] - kh, kw:y.shape[3] - kw, :]
        if self.use_bias:
            y = y + self.bias
        return y

    def compute_output_shape(self, input_shape):
        spatial = [None if d is None else d * s
                   for d, s in zip(input_shape[1:4], self.strides)]
        return (input_shape[0], *spatial, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size,
                      strides=self.strides, use_bias=self.use_bias)
        return config
