"""The 3D ResNet that encodes conditioning frames for the prior's cross-attention."""

import math

import keras
from keras import ops

from keras_videogpt.layers.conv import torch_default_initializer


@keras.saving.register_keras_serializable(package="keras_videogpt")
class SymmetricPadConv3D(keras.layers.Layer):
    """Bias-free 3D conv with symmetric zero padding `kernel // 2`, as PyTorch's `padding=k//2`.

    (TF's SAME pads stride-2 convs asymmetrically; this keeps the reference's
    alignment so converted weights see the same pixels.)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size = int(filters), int(kernel_size)
        self.strides = tuple(int(s) for s in strides)

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(name="kernel", shape=(k, k, k, input_shape[-1], self.filters),
                                      initializer=torch_default_initializer())

    def call(self, x):
        p = self.kernel_size // 2
        if p:
            x = ops.pad(x, [[0, 0], [p, p], [p, p], [p, p], [0, 0]])
        return ops.conv(x, self.kernel, strides=self.strides, padding="valid")

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class ResidualUnit(keras.layers.Layer):
    """conv3-LN-ReLU-conv3-LN-ReLU, plus a (projected) shortcut, then ReLU.

    Norms are channel LayerNorms (eps 1e-5), as in the reference's 3D ResNet.
    The reference applies ReLU after both norms of the residual branch and
    again after the sum (only the projection's norm has none); without the
    second one a converted checkpoint computes other features.
    """

    def __init__(self, filters, strides=(1, 1, 1), projection=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.strides, self.projection = int(filters), tuple(strides), projection
        self.conv1 = SymmetricPadConv3D(filters, 3, strides, name="conv1")
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm1")
        self.conv2 = SymmetricPadConv3D(filters, 3, name="conv2")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-5, name="norm2")
        if projection:
            self.proj_conv = SymmetricPadConv3D(filters, 1, strides, name="proj_conv")
            self.proj_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="proj_norm")

    def call(self, x):
        shortcut = self.proj_norm(self.proj_conv(x)) if self.projection else x
        h = ops.relu(self.norm1(self.conv1(x)))
        h = ops.relu(self.norm2(self.conv2(h)))
        return ops.relu(h + shortcut)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides, projection=self.projection)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class ResNet3D(keras.layers.Layer):
    """ResNet (34 by default) over `[B, n, H, W, 3]` frames -> `[B, n, H/4, W/4, out_dim]`.

    A kernel-3 stem, then four groups of residual units with widths
    `width * (1, 2, 4)` and `out_dim`; the second and third groups halve H and
    W (the reference's stride `(1, 4, 4)`).

    Args:
        blocks: residual units per group, `(3, 4, 6, 3)` for ResNet-34.
        width: base width (64 in the reference).
        out_dim: channels of the output (240 in the reference).
    """

    def __init__(self, blocks=(3, 4, 6, 3), width=64, out_dim=240, **kwargs):
        super().__init__(**kwargs)
        self.blocks, self.width, self.out_dim = tuple(blocks), int(width), int(out_dim)
        self.stem = SymmetricPadConv3D(self.width, 3, name="stem")
        self.stem_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="stem_norm")
        widths = (self.width, 2 * self.width, 4 * self.width, self.out_dim)
        strides = ((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 1, 1))
        self.groups = []
        for g, (n, w, s) in enumerate(zip(self.blocks, widths, strides)):
            self.groups.append([ResidualUnit(w, s if i == 0 else (1, 1, 1), projection=i == 0,
                                             name=f"group{g + 1}_{i}") for i in range(n)])

    def call(self, x):
        x = ops.relu(self.stem_norm(self.stem(x)))
        for group in self.groups:
            for unit in group:
                x = unit(x)
        return x

    def get_config(self):
        config = super().get_config()
        config.update(blocks=self.blocks, width=self.width, out_dim=self.out_dim)
        return config


def encoded_shape(n_frames, resolution):
    """Grid of the ResNet's output for `n_frames` frames of `resolution` (H, W)."""
    return (n_frames, math.ceil(resolution[0] / 4), math.ceil(resolution[1] / 4))


# Layer configs serialized before the rename name this class "keras_videogpt>Conv3D".
keras.saving.get_custom_objects()["keras_videogpt>Conv3D"] = SymmetricPadConv3D
