"""The `VQVAE` model: video -> discrete codes -> video, trained with `fit`."""

import hashlib
import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from keras_videogpt import distribute, presets, validation
from keras_videogpt.layers.conv import SamePadConv3D, check_temporal_padding
from keras_videogpt.vqvae.blocks import Decoder, Encoder
from keras_videogpt.vqvae.fsq import FiniteScalarQuantizer
from keras_videogpt.vqvae.quantizer import VectorQuantizer


def _pair(resolution):
    if isinstance(resolution, int):
        return (resolution, resolution)
    return tuple(int(r) for r in resolution)


def unpack_video(data):
    """The video out of what a dataset yields: a tensor, a tuple or a dict."""
    if isinstance(data, dict):
        if "video" not in data:
            raise ValueError(f"A dict batch needs a 'video' key; got keys {sorted(data)}.")
        return data["video"]
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


@keras.saving.register_keras_serializable(package="keras_videogpt")
class VQVAE(keras.Model):
    """VideoGPT's VQ-VAE: 3D conv encoder with axial attention, EMA codebook, decoder.

    Videos are channels-last `[B, T, H, W, C]` floats in [-0.5, 0.5] (uint8
    input is converted as `x / 255 - 0.5`). The latent grid is
    `(T, H, W) / downsample`.

    Training (`fit`) minimises `mse(x_recon, x) / data_variance +
    commitment_cost * commitment_loss`, with `data_variance = 0.06` and
    `commitment_cost = 0.25` as in the reference; the codebook learns by EMA
    (see `VectorQuantizer`). Logged metrics: `loss`, `recon_loss`,
    `commitment_loss`, `perplexity` and `codes_used` (share of the codebook
    used by the batch).

    Args:
        sequence_length: frames per clip, T.
        resolution: frame size, an int or `(H, W)`.
        n_hiddens: channel width of the encoder and decoder.
        n_res_layers: attention residual blocks in each of them.
        embedding_dim: code vector width.
        n_codes: codebook size.
        downsample: T, H, W downsampling factors, powers of 2.
        channels: video channels.
        commitment_cost: weight of the commitment loss.
        data_variance: the reconstruction MSE is divided by it.
        ema_decay: codebook EMA decay.
        synchronized_bn: synchronise BatchNorm statistics across replicas.
        seed: seed of the codebook's random draws.
        reference_rounding: pick codes with the reference's float32 rounding
            of the distances (see `VectorQuantizer`).
        quantizer: `"ema"`, the reference's EMA codebook (`VectorQuantizer`),
            or `"fsq"`, finite scalar quantization (`FiniteScalarQuantizer`):
            no codebook to learn and no commitment loss. With `"fsq"`,
            `embedding_dim` and `n_codes` follow from `levels`.
        levels: FSQ's values per channel (default `(8, 5, 5, 5)`: 1000 codes).
        temporal_padding: how the encoder's and decoder's convs pad time:
            `"zeros"`, the reference's (and its checkpoints'), or
            `"replicate"`, which repeats the first and last frames (as TATS
            does). With zeros a clip's first and last latent steps get codes
            of their own: a still clip's codes change there and stay put in
            between; with replicate they stay put everywhere. On Moving MNIST
            this did not make the prior's samples better (docs/sampling.md).

    Example:
    >>> vqvae = VQVAE.from_preset("tiny")
    >>> vqvae.compile(optimizer=keras.optimizers.Adam(3e-4))
    >>> vqvae.fit(dataset, epochs=1)                       # doctest: +SKIP
    >>> codes = vqvae.encode(video)    # int32 [B, 4, 16, 16]  # doctest: +SKIP
    >>> video = vqvae.decode(codes)    # [B, 16, 64, 64, 3]    # doctest: +SKIP
    """

    def __init__(self, sequence_length=16, resolution=64, n_hiddens=240, n_res_layers=4,
                 embedding_dim=256, n_codes=2048, downsample=(4, 4, 4), channels=3,
                 commitment_cost=0.25, data_variance=0.06, ema_decay=0.99,
                 synchronized_bn=False, seed=None, reference_rounding=False, quantizer="ema",
                 levels=None, temporal_padding="zeros", **kwargs):
        super().__init__(**kwargs)
        self.temporal_padding = check_temporal_padding(temporal_padding)
        if quantizer not in ("ema", "fsq"):
            raise ValueError(f"Unknown quantizer {quantizer!r}; choose 'ema' or 'fsq'.")
        if levels is not None and quantizer != "fsq":
            raise ValueError("`levels` are FSQ's: pass quantizer='fsq' with them.")
        self.quantizer_type = quantizer
        self.levels = tuple(int(v) for v in (levels or (8, 5, 5, 5))) if quantizer == "fsq" \
            else None
        if self.levels is not None:
            embedding_dim, n_codes = len(self.levels), int(np.prod(self.levels))
        self.sequence_length = int(sequence_length)
        self.resolution = _pair(resolution)
        self.n_hiddens = int(n_hiddens)
        self.n_res_layers = int(n_res_layers)
        self.embedding_dim = int(embedding_dim)
        self.n_codes = int(n_codes)
        self.downsample = tuple(int(d) for d in downsample)
        if len(self.downsample) != 3:
            raise ValueError(f"`downsample` needs 3 factors (T, H, W); got {downsample}.")
        self.channels = int(channels)
        self.commitment_cost = float(commitment_cost)
        self.data_variance = float(data_variance)
        self.ema_decay = float(ema_decay)
        self.synchronized_bn = bool(synchronized_bn)
        self.seed = seed
        self.reference_rounding = bool(reference_rounding)
        validation.check_divisible(self.sequence_length, self.resolution, self.downsample)
        for name in ("n_hiddens", "embedding_dim", "n_codes", "channels", "sequence_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1; got {getattr(self, name)}.")

        self.encoder = Encoder(self.n_hiddens, self.n_res_layers, self.downsample,
                               self.synchronized_bn, self.temporal_padding, name="encoder")
        self.pre_vq_conv = SamePadConv3D(self.embedding_dim, 1, name="pre_vq_conv")
        if self.levels is not None:
            self.quantizer = FiniteScalarQuantizer(self.levels, name="quantizer")
        else:
            self.quantizer = VectorQuantizer(self.n_codes, self.embedding_dim,
                                             decay=self.ema_decay, seed=seed,
                                             reference_rounding=self.reference_rounding,
                                             name="quantizer")
        self.post_vq_conv = SamePadConv3D(self.n_hiddens, 1, name="post_vq_conv")
        self.decoder = Decoder(self.n_hiddens, self.n_res_layers, self.downsample,
                               self.channels, self.synchronized_bn, self.temporal_padding,
                               name="decoder")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in
                         ("loss", "recon_loss", "commitment_loss", "perplexity", "codes_used")}
        self.build((None,) + self.video_shape)

    # ------------------------------------------------------------ shapes
    @property
    def video_shape(self):
        """`(T, H, W, C)` of the clips this model takes."""
        return (self.sequence_length, *self.resolution, self.channels)

    @property
    def latent_shape(self):
        """`(t, h, w)` of the code grid."""
        return (self.sequence_length // self.downsample[0],
                self.resolution[0] // self.downsample[1],
                self.resolution[1] // self.downsample[2])

    def build(self, input_shape):
        latent = (input_shape[0],) + self.latent_shape
        self.encoder.build(input_shape)
        self.pre_vq_conv.build(latent + (self.n_hiddens,))
        self.quantizer.build(latent + (self.embedding_dim,))
        self.post_vq_conv.build(latent + (self.embedding_dim,))
        self.decoder.build(latent + (self.n_hiddens,))
        self.built = True

    def fingerprint(self):
        """A short hash of what fixes the codes: the encoder, `pre_vq_conv` and the codebook.

        Codes written by one VQ-VAE are meaningless to another, even of the
        same shape; `write_codes` records this so a prior never trains on
        another model's codes.
        """
        digest = hashlib.sha256()
        for layer in (self.encoder, self.pre_vq_conv):
            for weight in layer.weights:
                digest.update(np.asarray(weight.numpy(), "float32").tobytes())
        digest.update(np.asarray(self.quantizer.embeddings.numpy(), "float32").tobytes())
        return digest.hexdigest()[:16]

    # ----------------------------------------------------------- forward
    def _prepare(self, video, check_inputs=True):
        video = validation.as_tensor_like(video, "video")
        validation.check_video(video, self.video_shape)
        if check_inputs:  # reads values only when they are at hand: free inside graphs
            validation.check_video_values(video)
        return validation.to_float_video(video, self.compute_dtype)

    def forward(self, video, training=None):
        """Full pass; returns a dict with `z`, `codes`, `quantized`, `recon` and the VQ stats."""
        x = self._prepare(video)
        z = self.pre_vq_conv(self.encoder(x, training=training))
        vq = self.quantizer(z, training=training)
        recon = self.decoder(self.post_vq_conv(vq["quantized"]), training=training)
        return dict(vq, z=z, recon=recon, input=x)

    def call(self, video, training=None):
        """Reconstruction of `video`, `[B, T, H, W, C]`."""
        return self.forward(video, training=training)["recon"]

    def encode(self, video, check_inputs=True):
        """int32 codes `[B, t, h, w]` of a `[B, T, H, W, C]` video (inference mode).

        `video` is uint8 in [0, 255] or floats in [-0.5, 0.5]. With
        `check_inputs` (the default), float video that holds NaN or inf, or
        lies far outside [-0.5, 0.5] (0..255 floats, say), is refused when its
        values can be read, which is in eager code; inside a graph nothing is
        checked, at no cost.
        """
        x = self._prepare(video, check_inputs)
        return self._in_graph("encode", self._encode_checked, x)

    def _encode_checked(self, x):
        z = self.pre_vq_conv(self.encoder(x, training=False))
        flat = ops.reshape(ops.cast(z, "float32"), (-1, self.embedding_dim))
        codes = self.quantizer.nearest(flat, self.quantizer.embeddings)
        return ops.reshape(codes, (-1,) + self.latent_shape)

    def _in_graph(self, name, fn, x):
        """`fn(x)`; called eagerly on TF tensors, through a cached `tf.function` of it.

        Eager TF runs a layer's ops one by one (the tiny decoder takes 4x as
        long as its graph); inside a graph or under another backend, `fn` is
        traced or run as it is.
        """
        if not (tf.executing_eagerly() and isinstance(x, tf.Tensor)):
            return fn(x)
        # One graph per (dtype, shape past the batch), traced once with the batch size left
        # open. TF counts a method's traces over every model, so retracing on each new
        # batch size made the demo's second model warn of "excessive retracing".
        key = (name, x.dtype, tuple(x.shape[1:]))
        graphs = self.__dict__.setdefault("_inference_graphs", {})
        if key not in graphs:
            spec = tf.TensorSpec((None,) + key[2], x.dtype)
            graphs[key] = tf.function(fn, input_signature=[spec])
        return graphs[key](x)

    def embed(self, codes):
        """Codebook vectors `[B, t, h, w, embedding_dim]` of int codes."""
        validation.check_codes(codes, self.latent_shape, self.n_codes)
        return self.quantizer.lookup(codes)

    def decode(self, codes):
        """Video `[B, T, H, W, C]` (floats, nominally [-0.5, 0.5]) from int codes `[B, t, h, w]`."""
        validation.check_codes(codes, self.latent_shape, self.n_codes)
        return self._in_graph("decode", self._decode_checked, tf.convert_to_tensor(codes))

    def _decode_checked(self, codes):
        h = ops.cast(self.quantizer.lookup(codes), self.compute_dtype)
        return self.decoder(self.post_vq_conv(h), training=False)

    def decode_sequence(self, codes):
        """Video from codes of any number of latent frames, `[B, n, h, w]` -> `[B, n * dt, H, W, C]`.

        The decoder is convolutional and attends along time without positions, so
        a long sequence (a long video's codes) decodes in one pass, with no seams
        between windows; its time attention grows with `n`.
        """
        shape = tuple(np.shape(codes))
        if len(shape) != 4 or shape[2:] != tuple(self.latent_shape[1:]) or shape[1] < 1:
            raise ValueError(f"Codes must have shape [batch, frames, {self.latent_shape[1]}, "
                             f"{self.latent_shape[2]}]; got {shape}.")
        validation.check_codes(codes, shape[1:], self.n_codes)
        # Its own graph: decode's relaxes the batch size, this one's lengths must stay static.
        return self._in_graph("decode_sequence", self._decode_checked,
                              tf.convert_to_tensor(codes))

    # ---------------------------------------------------------- training
    def compute_losses(self, out):
        """The reference's losses, computed in float32."""
        recon = ops.cast(out["recon"], "float32")
        x = ops.cast(out["input"], "float32")
        recon_loss = ops.mean(ops.square(recon - x)) / self.data_variance
        commitment = out["commitment_loss"]
        return recon_loss + self.commitment_cost * commitment, recon_loss, commitment

    def _update_metrics(self, loss, recon_loss, out):
        values = dict(loss=loss, recon_loss=recon_loss,
                      commitment_loss=out["commitment_loss"],
                      perplexity=out["perplexity"], codes_used=out["usage"])
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return distribute.step_logs({name: t.result() for name, t in self.trackers.items()})

    @property
    def metrics(self):
        return list(self.trackers.values())

    def make_train_function(self, force=False):
        distribute.build_optimizer(self)  # so that the train step is traced once, not twice
        return super().make_train_function(force)

    def train_step(self, data):
        video = unpack_video(data)
        with tf.GradientTape() as tape:
            out = self.forward(video, training=True)
            loss, recon_loss, _ = self.compute_losses(out)
            scaled = distribute.scale_loss(loss)
            if self.optimizer is not None and hasattr(self.optimizer, "scale_loss"):
                scaled = self.optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self._update_metrics(loss, recon_loss, out)

    def test_step(self, data):
        out = self.forward(unpack_video(data), training=False)
        loss, recon_loss, _ = self.compute_losses(out)
        return self._update_metrics(loss, recon_loss, out)

    # ------------------------------------------------------------ config
    @classmethod
    def from_preset(cls, name, weights=None, **overrides):
        """A VQVAE from a named configuration in `keras_videogpt.presets`.

        Args:
            name: a preset name (`keras_videogpt.presets.vqvae_presets()`).
            weights: None or False for random weights; True for the weights
                that ship with the preset (an error names the presets that
                have some); or a path: a weights `.npz`
                (`keras_videogpt.pretrained.save_weights`), or a reference
                VideoGPT checkpoint (`.ckpt`, `.pt`), which is converted and
                whose own hyper-parameters win over the preset's.
            **overrides: constructor arguments that replace the preset's.

        Example:
        >>> vqvae = VQVAE.from_preset("moving_mnist", weights=True)  # doctest: +SKIP
        >>> vqvae = VQVAE.from_preset("bair_stride4x2x2", weights="bair_stride4x2x2.ckpt")  # doctest: +SKIP
        """
        from keras_videogpt import pretrained  # loaders sit above the models (docs/design.md)

        if weights is True:
            weights = presets.shipped_weights("vqvae", name)
        config = presets.vqvae_config(name, **overrides)
        if weights is None or weights is False:
            return cls(**config)
        weights = os.fspath(weights)
        if pretrained.is_weights_file(weights):
            model = cls(**config)
            pretrained.load_weights(model, weights)
            return model
        if not os.path.exists(weights):
            raise FileNotFoundError(f"No weights file at '{weights}'.")
        from keras_videogpt import convert

        # The checkpoint's hyper-parameters win; the preset gives the sizes that neither they
        # nor the weights say (a bare state_dict does not record its clip shape or strides).
        state, params = convert.read_reference(weights)
        if any(k.startswith("vqvae.") for k in state):  # a prior checkpoint holds its VQ-VAE
            state = {k[len("vqvae."):]: v for k, v in state.items() if k.startswith("vqvae.")}
        unsaid_keys = ("downsample", "sequence_length", "resolution")
        unsaid = {k: config[k] for k in unsaid_keys if k not in params}
        said = {k: params[k] for k in ("n_hiddens", "n_res_layers", "embedding_dim", "n_codes",
                                       *unsaid_keys) if k in params}
        return convert.vqvae_from_reference(state, **{**unsaid, **said, **overrides})

    def get_config(self):
        config = super().get_config()
        config.update(
            sequence_length=self.sequence_length, resolution=self.resolution,
            n_hiddens=self.n_hiddens, n_res_layers=self.n_res_layers,
            embedding_dim=self.embedding_dim, n_codes=self.n_codes,
            downsample=self.downsample, channels=self.channels,
            commitment_cost=self.commitment_cost, data_variance=self.data_variance,
            ema_decay=self.ema_decay, synchronized_bn=self.synchronized_bn, seed=self.seed,
            reference_rounding=self.reference_rounding, quantizer=self.quantizer_type,
            levels=self.levels, temporal_padding=self.temporal_padding)
        return config
