"""The strided block-sparse attention layout of the reference's released priors.

VideoGPT's `bair_gpt` and `ucf101_uncond_gpt` attend through a causal,
strided block-sparse pattern (Child et al., 2019, generalised to several
axes). The flattened latent is cut into blocks of `block_size` consecutive
positions, and the blocks are arranged on a grid (`block_shape`): the latent's
leading axes, then the remaining trailing positions counted in blocks. For
example, a 4x32x32 latent with blocks of 32 has a 4x32 block grid: 4 frames
of 32 blocks each.

A query block sees:
- itself and the `num_local_blocks` blocks before it (local attention);
- every earlier block that shares all of its block-grid coordinates but one,
  along each block axis except the last (strided global attention): for
  the 4x32 grid, the same block of every earlier frame.

Within a block, position i sees position j only if j <= i. The same layout
serves every head.
"""

import numpy as np


def _read_only(array):
    array.flags.writeable = False
    return array


class StridedSparseLayout:
    """Which blocks of positions may attend to which, for a latent grid.

    Args:
        shape: the latent grid, e.g. `(4, 32, 32)`.
        block_size: positions per block (32 in the reference).
        num_local_blocks: earlier blocks each block sees locally (4 in the
            reference).

    Raises:
        ValueError: if the grid cannot be cut into blocks: the product of the
            trailing axes, taken until it first exceeds `block_size`, must be
            a multiple of `block_size`.

    Example:
    >>> layout = StridedSparseLayout((4, 32, 32))
    >>> layout.block_shape, layout.num_blocks
    ((4, 32), 128)
    """

    def __init__(self, shape, block_size=32, num_local_blocks=4):
        self.shape = tuple(int(s) for s in shape)
        self.block_size = int(block_size)
        self.num_local_blocks = int(num_local_blocks)
        if self.block_size < 1 or self.num_local_blocks < 1:
            raise ValueError("Sparse attention needs block_size >= 1 and num_local_blocks >= 1; "
                             f"got {self.block_size} and {self.num_local_blocks}.")
        self.length = int(np.prod(self.shape))
        self.block_shape = self._block_shape()
        self.num_blocks = self.length // self.block_size
        # Made once: attention reads them at every call (eagerly) or trace.
        self._layout = _read_only(self._make_block_layout())
        self._table, self._valid = (_read_only(a) for a in self._make_block_table())
        self._gathered = _read_only(self._make_gathered_mask())

    def _block_shape(self):
        trailing = 1
        for axis in range(len(self.shape) - 1, -1, -1):
            trailing *= self.shape[axis]
            if trailing > self.block_size:
                break
        if trailing % self.block_size:
            raise ValueError(
                f"Sparse attention cannot cut the latent {self.shape} into blocks of "
                f"{self.block_size} positions: the product of its trailing axes "
                f"{self.shape[axis:]} is {trailing}, not a multiple of {self.block_size}. "
                "Use a latent whose trailing axes multiply to a multiple of the block size, "
                "or attn_type='full' or 'axial'.")
        return self.shape[:axis] + (trailing // self.block_size,)

    def block_layout(self):
        """`[num_blocks, num_blocks]` bool: query block r may attend to key block c."""
        return self._layout

    def _make_block_layout(self):
        nb = self.num_blocks
        layout = np.zeros((nb, nb), dtype=bool)
        for row in range(nb):
            layout[row, max(0, row - self.num_local_blocks):row + 1] = True
        coords = np.stack(np.unravel_index(np.arange(nb), self.block_shape), axis=-1)
        for axis in range(len(self.block_shape) - 1):
            others = [a for a in range(len(self.block_shape)) if a != axis]
            same = np.all(coords[:, None, others] == coords[None, :, others], axis=-1)
            earlier = coords[None, :, axis] <= coords[:, None, axis]
            layout |= same & earlier
        return layout

    def position_mask(self):
        """`[L, L]` bool: position i may attend to position j (causal within blocks)."""
        blocks = np.arange(self.length) // self.block_size
        layout = self.block_layout()[blocks[:, None], blocks[None, :]]
        return layout & np.tri(self.length, dtype=bool)

    def block_table(self):
        """The key blocks of each query block, padded to a common count.

        Returns:
            `(table, valid)`: int32 `[num_blocks, K]` block ids and bool
            `[num_blocks, K]`, False on padding, where K is the largest
            number of blocks any query block sees. Ids ascend along each row.
        """
        return self._table, self._valid

    def _make_block_table(self):
        layout = self._layout
        width = int(layout.sum(axis=1).max())
        table = np.zeros((self.num_blocks, width), dtype="int32")
        valid = np.zeros((self.num_blocks, width), dtype=bool)
        for row in range(self.num_blocks):
            cols = np.flatnonzero(layout[row])
            table[row, :len(cols)] = cols
            valid[row, :len(cols)] = True
        return table, valid

    def gathered_mask(self):
        """`[num_blocks, block_size, K * block_size]` bool mask over gathered key blocks."""
        return self._gathered

    def _make_gathered_mask(self):
        table, valid = self._table, self._valid
        b = self.block_size
        query = np.arange(self.num_blocks)[:, None] * b + np.arange(b)[None, :]
        key = (table[:, :, None] * b + np.arange(b)[None, None, :]).reshape(self.num_blocks, -1)
        ok = np.repeat(valid, b, axis=1)
        return ok[:, None, :] & (key[:, None, :] <= query[:, :, None])
