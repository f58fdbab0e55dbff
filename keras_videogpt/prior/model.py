"""The `VideoGPT` prior: a causal transformer over the VQ-VAE's flattened code grid."""

import math
import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt import distribute, presets, validation
from keras_videogpt.layers.conditional_layer_norm import ConditionalLayerNorm
from keras_videogpt.layers.position import BroadcastPositionEmbedding, RightShift
from keras_videogpt.layers.sparse_layout import StridedSparseLayout
from keras_videogpt.prior.block import ATTN_TYPES, TransformerBlock
from keras_videogpt.prior.resnet import ResNet3D, encoded_shape
from keras_videogpt.vqvae.model import VQVAE

LN2 = math.log(2.0)
# Config keys renamed since earlier versions (old -> new); older `.keras` files and run
# records use the old ones.
RENAMED_CONFIG_KEYS = {"heads": "num_heads", "layers": "num_layers"}


def code_nats(logits, codes):
    """Negative log-likelihood in nats of each code under `logits`: `[..., n_codes]` -> `[...]`.

    The prior's loss is its mean; `BitsPerDimStats` breaks it down by latent step.
    """
    return keras.losses.sparse_categorical_crossentropy(codes, logits, from_logits=True)


def unpack_prior_batch(data):
    """`{"codes", "cond_frames"?, "label"?}` from a dict, a tuple `(codes, ...)` or codes."""
    if isinstance(data, dict):
        return data
    if isinstance(data, (tuple, list)):
        data = data[0]
        if isinstance(data, dict):
            return data
    return {"codes": data}


@keras.saving.register_keras_serializable(package="keras_videogpt")
class VideoGPT(keras.Model):
    """VideoGPT's prior over VQ-VAE codes, with optional frame or class conditioning.

    The codes' codebook vectors (a frozen copy of the VQ-VAE's codebook) go
    through a bias-free `fc_in`, are shifted right by one position in raster
    order (T, then H, then W) behind a learned start vector, get a broadcast
    spatio-temporal position embedding, and pass through `layers` pre-norm
    transformer blocks with causal self-attention (`full` or `axial`), then a
    final LayerNorm and a zero-initialised, bias-free `fc_out`.

    Conditioning:
    - `n_cond_frames > 0`: the first frames of the clip are encoded by a 3D
      ResNet (plus its own position embedding) and every block cross-attends
      to that encoding. Pass `cond_frames` `[B, n, H, W, 3]`.
    - `class_cond_dim`: every LayerNorm's gain and bias are predicted from a
      vector of that width. Pass `label` (int `[B]`, one-hot encoded) or
      `cond` (float `[B, class_cond_dim]`).

    Loss and metrics: cross-entropy of the logits against the codes
    (`loss`, nats per code) and `bits_per_dim`, the same cross-entropy in
    bits, `loss / ln 2`, averaged over the latent positions. This is how
    the reference and the paper report the prior's likelihood: per latent
    code, not per pixel.

    Args:
        latent_shape: `(t, h, w)` of the code grid.
        n_codes: codebook size.
        embedding_dim: code vector width.
        hidden_dim: transformer width; divisible by 3 and by `num_heads`.
        num_heads: attention heads.
        layers: transformer blocks.
        dropout: residual dropout.
        attn_dropout: attention-probability dropout.
        attn_type: causal self-attention: `"full"`; `"sparse"`, the
            reference's strided block-sparse layout (its released `bair_gpt`
            and `ucf101_uncond_gpt` use it; see `StridedSparseLayout`); or
            `"axial"`, causal axial attention in which every code still sees
            all earlier codes (see `keras_videogpt.layers.causal_axial`).
        sparse_block_size, sparse_local_blocks: the sparse layout's block size
            and local blocks (32 and 4, the reference's).
        n_cond_frames: conditioning frames (0 for none).
        frame_shape: `(H, W)` of the conditioning frames.
        class_cond_dim: width of the class/action vector, or None.
        resnet_blocks, resnet_width, resnet_dim: the frame encoder's size.
        reference_epsilon: LayerNorm epsilon added after the rsqrt, as in the
            reference (set by the converter; off by default).
        gradient_checkpointing: recompute each block in the backward pass to
            save activation memory.

    Example:
    >>> prior = VideoGPT.from_preset("tiny", vqvae)          # doctest: +SKIP
    >>> prior.compile(optimizer=prior.default_optimizer(1000))  # doctest: +SKIP
    >>> prior.fit(codes_dataset, epochs=1)                    # doctest: +SKIP
    >>> logits = prior(codes)   # [B, t, h, w, n_codes]       # doctest: +SKIP
    """

    CAUSAL = True  # each code sees only earlier ones; MaskedVideoPrior sees all

    def __init__(self, latent_shape, n_codes, embedding_dim, hidden_dim=576, num_heads=4, num_layers=8,
                 dropout=0.2, attn_dropout=0.3, attn_type="full", n_cond_frames=0,
                 frame_shape=None, class_cond_dim=None, resnet_blocks=(3, 4, 6, 3),
                 resnet_width=64, resnet_dim=240, reference_epsilon=False,
                 gradient_checkpointing=False, sparse_block_size=32, sparse_local_blocks=4,
                 label_dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        self.latent_shape = tuple(int(s) for s in latent_shape)
        if len(self.latent_shape) != 3:
            raise ValueError(f"latent_shape must be (t, h, w); got {latent_shape}.")
        self.n_codes, self.embedding_dim = int(n_codes), int(embedding_dim)
        self.hidden_dim, self.num_heads = int(hidden_dim), int(num_heads)
        self.num_layers = int(num_layers)
        for name, value in (("n_codes", self.n_codes), ("embedding_dim", self.embedding_dim),
                            ("hidden_dim", self.hidden_dim), ("num_heads", self.num_heads),
                            ("num_layers", self.num_layers)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1; got {value}.")
        if self.hidden_dim % 3:
            raise ValueError(f"hidden_dim ({self.hidden_dim}) must be divisible by 3: the "
                             "position embedding gives each of T, H and W a third.")
        if self.hidden_dim % self.num_heads:
            raise ValueError(f"hidden_dim ({self.hidden_dim}) must be divisible by num_heads "
                             f"({self.num_heads}).")
        self.dropout, self.attn_dropout = float(dropout), float(attn_dropout)
        if attn_type not in ATTN_TYPES:
            raise ValueError(f"Unknown attn_type '{attn_type}'; choose one of {ATTN_TYPES}.")
        self.attn_type = attn_type
        self.sparse_block_size = int(sparse_block_size)
        self.sparse_local_blocks = int(sparse_local_blocks)
        if attn_type == "sparse":  # a latent the layout cannot split fails here, by name
            StridedSparseLayout(self.latent_shape, self.sparse_block_size,
                                self.sparse_local_blocks)
        self.n_cond_frames = int(n_cond_frames)
        self.frame_shape = None if frame_shape is None else tuple(int(s) for s in frame_shape)
        if self.n_cond_frames and self.frame_shape is None:
            raise ValueError("Frame conditioning needs frame_shape=(H, W) of the frames.")
        self.class_cond_dim = None if class_cond_dim is None else int(class_cond_dim)
        self.label_dropout = float(label_dropout)
        if not 0.0 <= self.label_dropout < 1.0:
            raise ValueError(f"label_dropout must be in [0, 1); got {label_dropout}.")
        if self.label_dropout and self.class_cond_dim is None:
            raise ValueError("label_dropout needs a class-conditional prior (class_cond_dim).")
        if self.label_dropout:  # only then: other priors keep their weights list unchanged
            self.label_seeds = keras.random.SeedGenerator()
        self.resnet_blocks = tuple(int(b) for b in resnet_blocks)
        self.resnet_width, self.resnet_dim = int(resnet_width), int(resnet_dim)
        self.reference_epsilon = bool(reference_epsilon)
        self.gradient_checkpointing = bool(gradient_checkpointing)

        self.codebook = self.add_weight(
            name="codebook", shape=(self.n_codes, self.embedding_dim), trainable=False,
            initializer=keras.initializers.RandomNormal(stddev=1.0), autocast=False)
        self.fc_in = keras.layers.Dense(
            self.hidden_dim, use_bias=False, name="fc_in",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.02))
        self.right_shift = RightShift(self.hidden_dim, name="right_shift")
        self.position = BroadcastPositionEmbedding(self.latent_shape, self.hidden_dim,
                                                   name="position")
        self.blocks = [
            TransformerBlock(self.num_heads, self.num_layers, attn_type, self.dropout,
                             self.attn_dropout, cross_attention=self.n_cond_frames > 0,
                             cond_dim=self.class_cond_dim,
                             reference_epsilon=self.reference_epsilon,
                             sparse_block_size=self.sparse_block_size,
                             sparse_local_blocks=self.sparse_local_blocks, causal=self.CAUSAL,
                             name=f"block_{i}")
            for i in range(self.num_layers)]
        self.norm = ConditionalLayerNorm(cond_dim=self.class_cond_dim,
                              reference_epsilon=self.reference_epsilon, name="norm")
        self.fc_out = keras.layers.Dense(self.n_codes, use_bias=False, kernel_initializer="zeros",
                                         name="fc_out")
        if self.n_cond_frames:
            self.frame_encoder = ResNet3D(self.resnet_blocks, self.resnet_width, self.resnet_dim,
                                          name="frame_encoder")
            self.frame_position = BroadcastPositionEmbedding(
                encoded_shape(self.n_cond_frames, self.frame_shape), self.resnet_dim,
                name="frame_position")
        self.trackers = {n: keras.metrics.Mean(name=n) for n in ("loss", "bits_per_dim")}
        self._build_all()

    # ------------------------------------------------------------ building
    def _build_all(self):
        b = None
        grid = (b,) + self.latent_shape
        x_shape = grid + (self.hidden_dim,)
        cond_shape = None if self.class_cond_dim is None else (b, self.class_cond_dim)
        frames_shape = None
        if self.n_cond_frames:
            frames_in = (b, self.n_cond_frames) + self.frame_shape + (3,)
            self.frame_encoder(keras.KerasTensor(frames_in))  # builds the ResNet symbolically
            frames_shape = (b,) + self.frame_position.grid_shape + (self.resnet_dim,)
            self.frame_position.build(frames_shape)
        self.fc_in.build(grid + (self.embedding_dim,))
        self.right_shift.build(x_shape)
        self.position.build(x_shape)
        for block in self.blocks:
            block.build(x_shape, cond_shape, frames_shape)
        self.norm.build(x_shape, cond_shape)
        self.fc_out.build(x_shape)
        self.built = True

    def set_codebook(self, vqvae_or_codebook):
        """Copy a VQ-VAE's codebook (or a `[n_codes, embedding_dim]` array) into the prior."""
        value = getattr(getattr(vqvae_or_codebook, "quantizer", None), "embeddings",
                        vqvae_or_codebook)
        value = np.asarray(value)
        if value.shape != tuple(self.codebook.shape):
            raise ValueError(f"Codebook shape {value.shape} does not match the prior's "
                             f"{tuple(self.codebook.shape)} (n_codes, embedding_dim).")
        self.codebook.assign(value)

    def with_dtype(self, dtype):
        """A copy of this prior whose variables and computations use `dtype` (e.g. "bfloat16").

        For sampling: at batch 1 each token reads every weight and its KV
        cache, so halving their bytes speeds sampling where memory bandwidth
        bounds it. LayerNorm statistics, softmax and the logits stay float32.
        """
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(dtype)  # sub-layers take the global policy when made
        try:
            copy = self.__class__.from_config(dict(self.get_config(), dtype=dtype))
        finally:
            keras.config.set_dtype_policy(previous)
        copy.set_weights(self.get_weights())
        return copy

    @classmethod
    def from_vqvae(cls, vqvae, **config):
        """A prior over `vqvae`'s latent grid and codebook; `config` sets the rest.

        Frame conditioning takes the frame size from the VQ-VAE.
        """
        if config.get("n_cond_frames"):
            config.setdefault("frame_shape", vqvae.resolution)
        prior = cls(latent_shape=vqvae.latent_shape, n_codes=vqvae.n_codes,
                    embedding_dim=vqvae.embedding_dim, **config)
        prior.set_codebook(vqvae)
        return prior

    @classmethod
    def from_preset(cls, name, vqvae=None, weights=None, **overrides):
        """A prior from a named configuration in `keras_videogpt.presets`, over `vqvae`.

        Args:
            name: a preset name (`keras_videogpt.presets.prior_presets()`);
                the reference's release names (`bair_gpt`,
                `ucf101_uncond_gpt`) are accepted too.
            vqvae: the `VQVAE` whose codes the prior models. It may be None
                with `weights=True` (the preset's own VQ-VAE is loaded with
                its shipped weights) or with a reference checkpoint that
                holds its VQ-VAE (the released priors do).
            weights: None or False for random weights; True for the shipped
                weights; or a path: a weights `.npz`
                (`keras_videogpt.pretrained.save_weights`), or a reference
                VideoGPT checkpoint (`.ckpt`, `.pt`), converted, whose own
                hyper-parameters win over the preset's.
            **overrides: constructor arguments that replace the preset's.

        Example:
        >>> prior = VideoGPT.from_preset("moving_mnist", weights=True)  # doctest: +SKIP
        >>> vqvae = VQVAE.from_preset("bair_stride4x2x2", weights="bair_gpt.ckpt")  # doctest: +SKIP
        >>> prior = VideoGPT.from_preset("bair_gpt", vqvae, weights="bair_gpt.ckpt")  # doctest: +SKIP
        """
        from keras_videogpt import pretrained  # loaders sit above the models (docs/design.md)

        if weights is True:
            weights = presets.shipped_weights("prior", name)
            if vqvae is None:
                vqvae = VQVAE.from_preset(presets.preset_info("prior", name)["vqvae_preset"],
                                          weights=True)
        config = presets.prior_config(name, **overrides)
        if weights is not None and weights is not False:
            weights = os.fspath(weights)
            if not pretrained.is_weights_file(weights):
                if not os.path.exists(weights):
                    raise FileNotFoundError(f"No weights file at '{weights}'.")
                from keras_videogpt import convert

                # The checkpoint's hyper-parameters win; `overrides` are checked against them.
                # Without `vqvae`, the checkpoint's own VQ-VAE gives the latent grid (load it
                # for decoding with `VQVAE.from_preset(<its preset>, weights=<same file>)`).
                converted = convert.prior_from_reference(weights, vqvae=vqvae, **overrides)
                return converted[0] if isinstance(converted, tuple) else converted
        if vqvae is None:
            raise ValueError("A prior models a VQ-VAE's codes: pass `vqvae` (or weights=True "
                             "for a preset whose weights ship, which loads its VQ-VAE too).")
        prior = cls.from_vqvae(vqvae, **config)
        if weights is not None and weights is not False:
            pretrained.load_weights(prior, weights, vqvae=vqvae)
        return prior

    # ------------------------------------------------------------- inputs
    def _check_codes(self, codes):
        return validation.check_codes(codes, self.latent_shape, self.n_codes)

    def encode_conditions(self, cond_frames=None, label=None, cond=None, training=None):
        """Encodes the conditioning inputs: `(cond vector or None, frame encoding or None)`."""
        vector = None
        if self.class_cond_dim is not None:
            if cond is None and label is None:
                raise ValueError("This prior is class-conditional: pass `label` (int [B]) or "
                                 f"`cond` (float [B, {self.class_cond_dim}]).")
            if cond is None:
                label = validation.check_labels(label, self.class_cond_dim, null=True)
                # The null class (`null_label`) is the zero vector: no class at all.
                vector = ops.one_hot(ops.cast(label, "int32"), self.class_cond_dim + 1)
                vector = vector[:, :self.class_cond_dim]
            else:
                cond = validation.as_tensor_like(cond, "cond")
                if len(cond.shape) != 2 or cond.shape[-1] != self.class_cond_dim:
                    raise ValueError(f"cond must be float [batch, {self.class_cond_dim}]; got "
                                     f"shape {tuple(cond.shape)}.")
                vector = ops.cast(cond, "float32")
        elif cond is not None or label is not None:
            raise ValueError("This prior is not class-conditional (class_cond_dim=None), "
                             "but a label was given.")
        frame_encoding = None
        if self.n_cond_frames:
            if cond_frames is None:
                raise ValueError(f"This prior is conditioned on {self.n_cond_frames} frame(s): "
                                 f"pass `cond_frames` [B, {self.n_cond_frames}, "
                                 f"{self.frame_shape[0]}, {self.frame_shape[1]}, 3].")
            validation.check_video(cond_frames, (self.n_cond_frames,) + self.frame_shape + (3,),
                                   what="conditioning frames")
            x = validation.to_float_video(cond_frames, self.compute_dtype)
            frame_encoding = self.frame_position(self.frame_encoder(x, training=training))
        elif cond_frames is not None:
            raise ValueError("This prior has no frame conditioning (n_cond_frames=0), but "
                             "cond_frames were given.")
        return vector, frame_encoding

    @property
    def null_label(self):
        """The label that means "no class" (`class_cond_dim`): the zero conditioning vector,
        what classifier-free guidance contrasts with (None for unconditional priors)."""
        return self.class_cond_dim

    # ------------------------------------------------------------ forward
    def _blocks(self, h, vector, frame_encoding, training):
        for block in self.blocks:
            if self.gradient_checkpointing and training:
                h = keras.remat(lambda x, blk=block: blk(x, vector, frame_encoding, training=training))(h)
            else:
                h = block(h, vector, frame_encoding, training=training)
        return h

    def call(self, inputs, training=None):
        """Teacher-forced logits `[B, t, h, w, n_codes]` (float32) for int codes `[B, t, h, w]`.

        `inputs` is the codes, or a dict with `codes` and, for conditioned
        priors, `cond_frames` and/or `label` (or `cond`).
        """
        inputs = unpack_prior_batch(inputs)
        codes = self._check_codes(inputs["codes"])
        vector, frame_encoding = self.encode_conditions(inputs.get("cond_frames"), inputs.get("label"),
                                        inputs.get("cond"), training=training)
        emb = ops.take(self.codebook, ops.cast(codes, "int32"), axis=0)
        h = self.fc_in(ops.cast(emb, self.compute_dtype))
        h = self.position(self.right_shift(h))
        h = self._blocks(h, vector, frame_encoding, training)
        return ops.cast(self.fc_out(self.norm(h, vector)), "float32")

    # ------------------------------------------------------------- decode
    def start_decoding(self, batch_size, vector=None, frame_encoding=None):
        """The state of a cached decode: zeroed KV caches and the cross-attention keys."""
        caches = [block.attn.empty_cache(batch_size, self.compute_dtype) for block in self.blocks]
        cross = None
        if self.n_cond_frames:
            cross = [block.cross_attn.project_key_value(frame_encoding) for block in self.blocks]
        return caches, cross

    def decode_step(self, prev_codes, index, caches, cross=None, vector=None):
        """Logits `[B, n_codes]` at raster position `index`, given the code drawn at `index - 1`.

        `prev_codes` int `[B]` is ignored at index 0, where the start vector
        is the input. `caches` are the blocks' caches, or the states of a
        segment of them (`open_segment`) that holds `index`. Returns
        `(logits, caches)`.
        """
        emb = ops.take(self.codebook, ops.cast(prev_codes, "int32"), axis=0)
        h = self.fc_in(ops.cast(emb, self.compute_dtype))
        start = ops.broadcast_to(ops.cast(self.right_shift.start, h.dtype), ops.shape(h))
        h = ops.where(index == 0, start, h)
        coords = ops.stack([index // (self.latent_shape[1] * self.latent_shape[2]),
                            (index // self.latent_shape[2]) % self.latent_shape[1],
                            index % self.latent_shape[2]])
        h = h + ops.cast(self.position.embedding_at(coords), h.dtype)[None]
        new_caches = []
        for i, block in enumerate(self.blocks):
            h, cache = block.decode(h, caches[i], index, vector,
                                    None if cross is None else cross[i])
            new_caches.append(cache)
        return ops.cast(self.fc_out(self.norm(h, vector)), "float32"), new_caches

    def open_segment(self, caches, begin, end):
        """Each block's decode state for positions `begin` to `end - 1` (see
        `GridAttention.open_segment`); `close_segment` gives the caches back."""
        return [block.attn.open_segment(c, begin, end) for block, c in zip(self.blocks, caches)]

    def close_segment(self, caches, states, begin, end):
        return [block.attn.close_segment(c, s, begin, end)
                for block, c, s in zip(self.blocks, caches, states)]

    # ----------------------------------------------------------- training
    def compute_prior_loss(self, logits, codes):
        return ops.mean(code_nats(logits, codes))

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _update(self, loss):
        self.trackers["loss"].update_state(loss)
        self.trackers["bits_per_dim"].update_state(loss / LN2)
        return distribute.step_logs({n: t.result() for n, t in self.trackers.items()})

    def make_train_function(self, force=False):
        distribute.build_optimizer(self)  # so that the train step is traced once, not twice
        return super().make_train_function(force)

    def drop_labels(self, batch):
        """With `label_dropout`, each clip's label becomes the null class at that rate."""
        if not self.label_dropout or "label" not in batch:
            return batch
        label = ops.cast(batch["label"], "int32")
        drop = keras.random.uniform(ops.shape(label), seed=self.label_seeds) < self.label_dropout
        return dict(batch, label=ops.where(drop, self.null_label, label))

    def train_step(self, data):
        batch = self.drop_labels(unpack_prior_batch(data))
        with tf.GradientTape() as tape:
            logits = self(batch, training=True)
            loss = self.compute_prior_loss(logits, batch["codes"])
            scaled = self.optimizer.scale_loss(distribute.scale_loss(loss))
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update(loss)

    def test_step(self, data):
        batch = unpack_prior_batch(data)
        return self._update(self.compute_prior_loss(self(batch, training=False), batch["codes"]))

    @staticmethod
    def default_optimizer(total_steps, learning_rate=3e-4, warmup_steps=0):
        """Adam (0.9, 0.999) at 3e-4 with cosine decay to 0 over `total_steps`, as the reference.

        `warmup_steps` > 0 first ramps the rate up linearly from 0 (not in the
        reference): a prior started from trained weights (`warm_start`) then
        keeps them while Adam's moment estimates settle.
        """
        if not 0 <= int(warmup_steps) < int(total_steps):
            raise ValueError(f"warmup_steps must be in [0, {int(total_steps)}), the run's steps; "
                             f"got {warmup_steps}.")
        if warmup_steps:
            schedule = keras.optimizers.schedules.CosineDecay(
                0.0, int(total_steps) - int(warmup_steps), warmup_target=learning_rate,
                warmup_steps=int(warmup_steps))
        else:
            schedule = keras.optimizers.schedules.CosineDecay(learning_rate, int(total_steps))
        return keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.999)

    @classmethod
    def from_config(cls, config):
        # `.keras` files saved before the rename call these `heads` and `layers`.
        config = dict(config)
        for old, new in RENAMED_CONFIG_KEYS.items():
            if old in config:
                config[new] = config.pop(old)
        return cls(**config)

    def get_config(self):
        config = super().get_config()
        config.update(
            latent_shape=self.latent_shape, n_codes=self.n_codes, embedding_dim=self.embedding_dim,
            hidden_dim=self.hidden_dim, num_heads=self.num_heads, num_layers=self.num_layers,
            dropout=self.dropout, attn_dropout=self.attn_dropout, attn_type=self.attn_type,
            n_cond_frames=self.n_cond_frames, frame_shape=self.frame_shape,
            class_cond_dim=self.class_cond_dim, resnet_blocks=self.resnet_blocks,
            resnet_width=self.resnet_width, resnet_dim=self.resnet_dim,
            reference_epsilon=self.reference_epsilon,
            gradient_checkpointing=self.gradient_checkpointing,
            sparse_block_size=self.sparse_block_size,
            sparse_local_blocks=self.sparse_local_blocks, label_dropout=self.label_dropout)
        return config
