"""Spatio-temporal position embedding and the right shift of the prior's input."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_videogpt")
class BroadcastPositionEmbedding(keras.layers.Layer):
    """Adds a learned position embedding built from one table per grid axis.

    For a grid `(T, H, W)` and width `C`, there are three tables of shape
    `(T, C/3)`, `(H, C/3)` and `(W, C/3)`. Each is broadcast over the other
    axes and the three are concatenated along channels in (T, H, W) order.

    Args:
        grid_shape: the grid, e.g. `(4, 32, 32)`.
        dim: the channel width; must be divisible by `len(grid_shape)`.

    Example:
    >>> pos = BroadcastPositionEmbedding((2, 4, 4), 12)
    >>> pos(keras.ops.zeros((1, 2, 4, 4, 12))).shape
    (1, 2, 4, 4, 12)
    """

    def __init__(self, grid_shape, dim, **kwargs):
        super().__init__(**kwargs)
        self.grid_shape = tuple(int(s) for s in grid_shape)
        self.dim = int(dim)
        n = len(self.grid_shape)
        if self.dim % n:
            raise ValueError(f"The position embedding width {self.dim} must be "
                             f"divisible by the number of grid axes ({n}).")
        self.tables = [
            self.add_weight(name=f"axis_{i}", shape=(size, self.dim // n),
                            initializer=keras.initializers.RandomNormal(stddev=0.01))
            for i, size in enumerate(self.grid_shape)
        ]

    def embedding(self):
        """The full `[*grid_shape, dim]` embedding."""
        n = len(self.grid_shape)
        parts = []
        for i, table in enumerate(self.tables):
            shape = [1] * n + [self.dim // n]
            shape[i] = self.grid_shape[i]
            parts.append(ops.broadcast_to(ops.reshape(table, shape),
                                          self.grid_shape + (self.dim // n,)))
        return ops.concatenate(parts, axis=-1)

    def embedding_at(self, coords):
        """Embedding `[dim]` at one grid position given as `len(grid)` int indices."""
        return ops.concatenate(
            [ops.take(table, coords[i], axis=0) for i, table in enumerate(self.tables)],
            axis=-1)

    def call(self, x):
        return x + ops.cast(self.embedding(), x.dtype)

    def get_config(self):
        config = super().get_config()
        config.update(grid_shape=self.grid_shape, dim=self.dim)
        return config


@keras.saving.register_keras_serializable(package="keras_videogpt")
class RightShift(keras.layers.Layer):
    """Shifts a grid right by one position in raster order, filling a learned start.

    Input `[B, T, H, W, C]`; in the flattened raster order, position `i` of the
    output holds input position `i - 1`, and position 0 holds the learned
    start vector. So the prediction at `i` sees only codes before `i`.

    Args:
        dim: channel width of the start vector.
    """

    def __init__(self, dim, **kwargs):
        super().__init__(**kwargs)
        self.dim = int(dim)
        self.start = self.add_weight(
            name="start", shape=(self.dim,),
            initializer=keras.initializers.RandomNormal(stddev=0.02))

    def call(self, x):
        b = ops.shape(x)[0]
        flat = ops.reshape(x, (b, -1, self.dim))
        start = ops.broadcast_to(ops.cast(self.start, x.dtype), (b, 1, self.dim))
        shifted = ops.concatenate([start, flat[:, :-1]], axis=1)
        return ops.reshape(shifted, ops.shape(x))

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim)
        return config
