"""One pre-norm transformer block of the prior, with optional cross-attention."""

import keras
from keras import ops

from keras_videogpt.layers.grid_attention import GridAttention
from keras_videogpt.layers.conditional_layer_norm import ConditionalLayerNorm


ATTN_TYPES = ("full", "sparse", "axial")


def gelu2(x):
    """The reference's GELU approximation, `x * sigmoid(1.702 x)`."""
    return x * ops.sigmoid(1.702 * x)


@keras.saving.register_keras_serializable(package="keras_videogpt")
class TransformerBlock(keras.layers.Layer):
    """`x + attn(LN(x))`, optionally `x + cross_attn(LN(x), frames)`, then `x + mlp(LN(x))`.

    Args:
        num_heads: attention heads.
        num_layers: depth of the whole stack (scales the output init).
        attn_type: causal self-attention: `"full"`, `"sparse"` (the
            reference's strided block-sparse layout) or `"axial"` (causal
            axial attention that sees the whole past).
        dropout: residual dropout after each sub-block.
        attn_dropout: dropout on self-attention probabilities; sparse
            attention ignores it, as the reference does.
        sparse_block_size, sparse_local_blocks: the sparse layout (32 and 4
            in the reference).
        cross_attention: add cross-attention to a conditioning encoding.
        cond_dim: width of a class/action vector for conditional LayerNorms.
        reference_epsilon: the reference's LayerNorm epsilon placement.
    """

    def __init__(self, num_heads, num_layers=1, attn_type="full", dropout=0.0, attn_dropout=0.0,
                 cross_attention=False, cond_dim=None, reference_epsilon=False,
                 sparse_block_size=32, sparse_local_blocks=4, causal=True, **kwargs):
        super().__init__(**kwargs)
        self.num_heads, self.num_layers = int(num_heads), int(num_layers)
        self.attn_type = attn_type
        self.dropout, self.attn_dropout = float(dropout), float(attn_dropout)
        self.cross_attention, self.cond_dim = bool(cross_attention), cond_dim
        self.reference_epsilon = bool(reference_epsilon)
        self.sparse_block_size = int(sparse_block_size)
        self.sparse_local_blocks = int(sparse_local_blocks)
        self.causal = bool(causal)
        if attn_type not in ATTN_TYPES:
            raise ValueError(f"Unknown attn_type '{attn_type}'; choose one of {ATTN_TYPES}.")
        norm = dict(cond_dim=cond_dim, reference_epsilon=reference_epsilon)
        self.attn_norm = ConditionalLayerNorm(**norm, name="attn_norm")
        sparse = attn_type == "sparse"
        self.attn = GridAttention(
            num_heads, attention_axes=(1, 2, 3) if attn_type == "axial" else None,
            causal=self.causal,
            dropout=0.0 if sparse else attn_dropout, num_layers=num_layers,
            sparse_block_size=self.sparse_block_size if sparse else None,
            sparse_local_blocks=self.sparse_local_blocks, name="attn")
        if self.cross_attention:
            self.cross_norm = ConditionalLayerNorm(**norm, name="cross_norm")
            self.cross_attn = GridAttention(num_heads, num_layers=num_layers, name="cross_attn")
        self.mlp_norm = ConditionalLayerNorm(**norm, name="mlp_norm")
        self.drop = keras.layers.Dropout(self.dropout)

    def build(self, x_shape, cond_shape=None, frames_shape=None):
        dim = x_shape[-1]
        self.attn_norm.build(x_shape, cond_shape)
        self.attn.build(x_shape)
        if self.cross_attention:
            self.cross_norm.build(x_shape, cond_shape)
            self.cross_attn.build(x_shape, frames_shape)
        self.mlp_norm.build(x_shape, cond_shape)
        self.fc1 = keras.layers.Dense(4 * dim, name="fc1")
        self.fc2 = keras.layers.Dense(dim, name="fc2")
        self.fc1.build(x_shape[:-1] + (dim,))
        self.fc2.build(x_shape[:-1] + (4 * dim,))

    def mlp(self, h):
        return self.fc2(gelu2(self.fc1(h)))

    def call(self, x, cond=None, frames=None, training=None):
        x = x + self.drop(self.attn(self.attn_norm(x, cond), training=training), training=training)
        if self.cross_attention:
            h = self.cross_norm(x, cond)
            x = x + self.drop(self.cross_attn(h, frames, training=training), training=training)
        return x + self.drop(self.mlp(self.mlp_norm(x, cond)), training=training)

    def decode(self, x, cache, index, cond=None, cross_kv=None):
        """One position `[B, C]` through the block, reading and writing its attention cache."""
        h, cache = self.attn.decode_self(self.attn_norm(x, cond), cache, index)
        x = x + h
        if self.cross_attention:
            x = x + self.cross_attn.decode_cross(self.cross_norm(x, cond), *cross_kv)
        return x + self.mlp(self.mlp_norm(x, cond)), cache

    def get_config(self):
        config = super().get_config()
        config.update(causal=self.causal, num_heads=self.num_heads, num_layers=self.num_layers, attn_type=self.attn_type,
                      dropout=self.dropout, attn_dropout=self.attn_dropout,
                      cross_attention=self.cross_attention, cond_dim=self.cond_dim,
                      reference_epsilon=self.reference_epsilon,
                      sparse_block_size=self.sparse_block_size,
                      sparse_local_blocks=self.sparse_local_blocks)
        return config
