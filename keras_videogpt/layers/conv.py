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
        y = ops.conv(x, self.kernel, strides=self.strides, padding="valid")
        if self.use_bias:
            y = y + self.bias
        return y

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
