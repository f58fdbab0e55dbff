"""Finite scalar quantization (Mentzer et al., 2023): a codebook-free quantizer.

Each of the `len(levels)` channels is bounded to `levels[d]` values and rounded;
the code is the mixed-radix number of the rounded channels. There is no
codebook to learn, so no EMA, no dead-code restarts and no commitment loss, and
nearly every code stays in use.
"""

import keras
import numpy as np
from keras import ops

from keras_videogpt.vqvae.quantizer import code_statistics

_EPS = 1e-3


@keras.saving.register_keras_serializable(package="keras_videogpt")
class FiniteScalarQuantizer(keras.layers.Layer):
    """Quantizes `[..., len(levels)]` vectors to the grid of `levels` values per channel.

    Channel `d` is bounded with `tanh` to `levels[d]` integer values
    (shifted by a half for even levels, so that the grid is symmetric), rounded
    with a straight-through gradient, and scaled to [-1, 1]. The code of a
    vector is `sum_d digit_d * prod(levels[:d])`, so codes run over
    `[0, prod(levels))` and `codes_to_vectors` inverts `vectors_to_codes`.

    Its interface is the `VectorQuantizer`'s: `call` returns `quantized`,
    `codes`, `commitment_loss` (always 0), `perplexity` and `usage`;
    `embeddings` is the implicit codebook `[n_codes, len(levels)]` (a fixed
    grid, stored so that priors copy it like a learned one).

    Args:
        levels: values per channel, each >= 2; e.g. `(8, 5, 5, 5)` (1000 codes).

    Example:
    >>> fsq = FiniteScalarQuantizer((8, 5, 5, 5))
    >>> out = fsq(keras.random.normal((2, 4, 4, 4, 4)))
    >>> out["codes"].shape
    (2, 4, 4, 4)
    """

    def __init__(self, levels=(8, 5, 5, 5), **kwargs):
        super().__init__(**kwargs)
        self.levels = tuple(int(level) for level in levels)
        if not self.levels or min(self.levels) < 2:
            raise ValueError(f"`levels` must be a non-empty list of integers >= 2; got {levels}.")
        self.n_codes = int(np.prod(self.levels))
        self.embedding_dim = len(self.levels)
        levels = np.asarray(self.levels, "float32")
        self._half_levels = (levels - 1) * (1 - _EPS) / 2
        self._offsets = np.where(np.asarray(self.levels) % 2 == 0, 0.5, 0.0).astype("float32")
        # tan, as the paper's code has it: close to the exact arctanh for 4 levels or more,
        # and defined for 2 levels, where offset / half_level exceeds 1.
        self._shifts = np.tan(self._offsets / self._half_levels).astype("float32")
        self._half_width = (np.asarray(self.levels) // 2).astype("float32")
        self._basis = np.cumprod([1] + list(self.levels[:-1])).astype("int32")

    def build(self, input_shape):
        if input_shape[-1] != self.embedding_dim:
            raise ValueError(f"FSQ with levels {self.levels} quantizes {self.embedding_dim} "
                             f"channels; the input has {input_shape[-1]}.")
        self.embeddings = self.add_weight(
            name="embeddings", shape=(self.n_codes, self.embedding_dim), trainable=False,
            initializer=keras.initializers.Constant(
                self._grid(np.arange(self.n_codes, dtype="int64"))))

    # -------------------------------------------------------- closed form
    def _grid(self, codes):
        """numpy: the vectors of `codes` (the id -> vector half of the bijection)."""
        digits = (codes[..., None] // self._basis) % np.asarray(self.levels)
        return ((digits - self._half_width) / self._half_width).astype("float32")

    def bound(self, z):
        """Each channel squashed into `(-half_level, half_level)`, before rounding."""
        return ops.tanh(z + self._shifts) * self._half_levels - self._offsets

    def round_to_grid(self, z):
        """Rounded to the grid and scaled to [-1, 1], with a straight-through gradient."""
        bounded = self.bound(ops.cast(z, "float32"))
        rounded = bounded + ops.stop_gradient(ops.round(bounded) - bounded)
        return rounded / self._half_width

    def vectors_to_codes(self, vectors):
        """Grid vectors `[..., len(levels)]` in [-1, 1] -> int32 codes `[...]`."""
        digits = ops.cast(ops.round(vectors * self._half_width + self._half_width), "int32")
        return ops.sum(digits * self._basis, axis=-1)

    def codes_to_vectors(self, codes):
        """int codes `[...]` -> grid vectors `[..., len(levels)]` in [-1, 1]."""
        codes = ops.cast(codes, "int32")[..., None]
        digits = ops.mod(ops.floor_divide(codes, self._basis), np.asarray(self.levels, "int32"))
        return (ops.cast(digits, "float32") - self._half_width) / self._half_width

    # -------------------------------------------- the VectorQuantizer API
    def nearest(self, flat, codebook=None):
        """Codes of unbounded vectors `[N, len(levels)]` (`codebook` is implicit, ignored)."""
        del codebook
        return self.vectors_to_codes(self.round_to_grid(flat))

    def lookup(self, codes):
        """Grid vectors of int codes: `[...]` -> `[..., len(levels)]`."""
        return self.codes_to_vectors(codes)

    def call(self, z, training=None):
        in_dtype = z.dtype
        quantized = self.round_to_grid(z)
        codes = self.vectors_to_codes(ops.stop_gradient(quantized))
        perplexity, usage = code_statistics(ops.reshape(codes, (-1,)), self.n_codes)
        return dict(quantized=ops.cast(quantized, in_dtype), codes=codes,
                    commitment_loss=ops.zeros((), "float32"), perplexity=perplexity,
                    usage=usage)

    def get_config(self):
        config = super().get_config()
        config.update(levels=self.levels)
        return config
