"""The contract every latent codec keeps, and what the codecs that quantize share."""

import math

import tensorflow as tf

from tfquant import quantizers
from tfquant.coding import coders

# Probabilities are floored here before taking logs, as in TFC v1 and CompressAI, so that a
# value far in a tail costs at most ~30 bits instead of an infinite or NaN gradient.
LIKELIHOOD_BOUND = 1e-9
RANGE_CODER_PRECISION = 16
TAIL_MASS = 2**-8


class LatentCodec(tf.keras.layers.Layer):
  """A latent (and the side latents that predict it) in training, encoding and decoding.

  ::

      training   call(y, params)              ──► ŷ_dec, {latent: bits per image}
      encoding   compress(y, params)          ──► [string per latent], [int32 symbols per latent]
      decoding   decompress(strings, shape, params) ──► ŷ, [symbols per latent], ok

  Strings and symbols come in `latents` order: y first, then the side latents, which are
  decoded first and predict y. `params` are the entropy model's parameters when something
  outside the codec predicts them (a hyperprior's or a context model's output; None for a
  codec that needs none), shaped like y but for the channels. Composite codecs pass their
  children these same calls; a child's bits and symbols are always its own "y".
  """

  latents = ("y",)

  def call(self, y, params=None, training=None, step=None):  # pylint: disable=arguments-differ
    """Training (or, with `training` false, evaluation) forward pass.

    Args:
      y: the latent, NHWC.
      params: see the class.
      training: whether quantizers use their training approximation; outside training they
        round exactly as the coder does, and the bits are what it would spend.
      step: the training step, for quantizers with a schedule.

    Returns:
      (ŷ_dec, {latent: bits per image}): the decoder quantizer's values of y, and the rate
      of every latent under its entropy quantizer's values.
    """
    raise NotImplementedError

  def compress(self, y, params=None, *, coder=coders.DEFAULT, dither=None, integer=False):
    """Codes a batch of one.

    Args:
      y: the latent, [1, H, W, C].
      params: see the class.
      coder: the entropy coder back-end (`coders.NAMES`).
      dither: U-Q's per-image dither u for y (None: none); side latents are never dithered.
      integer: choose y's tables with integer entropy parameters (`has_integer_parameters`).

    Returns:
      ([string [1] per latent], [int32 symbols per latent]).
    """
    raise NotImplementedError

  def decompress(self, strings, spatial_shape, params=None, *, coder=coders.DEFAULT,
                 dither=None, integer=False, accept_side_info=None):
    """Inverse of `compress`.

    Args:
      strings: `compress`'s strings.
      spatial_shape: y's [H, W].
      params, coder, dither, integer: as given to `compress`.
      accept_side_info: a function of the side latents' symbols (a list, in string order)
        to a bool tensor; y is decoded only if it accepts them (None: always).

    Returns:
      (ŷ, [int32 symbols per latent], ok): ok is false when a coder found a string damaged
      or the side information was refused (ŷ is then empty).
    """
    raise NotImplementedError

  @property
  def latent_codecs(self):
    """{latent: the codec that owns its quantizers and tables}, in string order."""
    return {"y": self}

  @property
  def encoder_layers(self):
    """Layers that only the encoder runs (frozen with the analysis in STH-Q's stage 2)."""
    return []

  @property
  def has_integer_parameters(self):
    """Whether `integer` coding is possible: a network chooses y's tables and has an integer
    twin (`integer_network`), the same on every machine."""
    return False

  def finalize(self):
    """Freezes the range-coding tables from the trained entropy model."""
    raise NotImplementedError

  def prepare_restore(self, coder_config):
    """Creates empty tables shaped as `coder_config` describes, for a checkpoint to fill."""
    raise NotImplementedError

  def coder_config(self):
    """What `prepare_restore` needs (JSON), saved with the model."""
    raise NotImplementedError

  @property
  def finalized(self):
    return getattr(self, "_coder", None) is not None


class QuantizedLatentCodec(LatentCodec):
  """A codec that quantizes its latent itself: an entropy-model quantizer (`ent_quant`) makes
  the values whose likelihood is the rate; a decoder quantizer (`dec_quant`) makes the values
  passed on to synthesis. When both are the same quantizer, one sample serves both, as in
  the paper's code. Outside training both are hard rounding around the codec's offset, which
  is exactly what the coder transmits.
  """

  def __init__(self, ent_quant="noise", dec_quant=None, **kwargs):
    super().__init__(**kwargs)
    self.ent_quant = quantizers.get(ent_quant)
    dec = self.ent_quant if dec_quant is None else quantizers.get(dec_quant)
    same = quantizers.spec(dec) == quantizers.spec(self.ent_quant)
    self.dec_quant = self.ent_quant if same else dec

  def build(self, input_shape):
    self.channels = int(input_shape[-1])
    super().build(input_shape)

  @property
  def quantizer_layers(self):
    return [self.ent_quant] if self.dec_quant is self.ent_quant else [self.ent_quant,
                                                                      self.dec_quant]

  def quantize_pair(self, y, offset, training, step, coded_offset=None):
    """Returns (values for the rate, values for the decoder); `coded_offset` is where the
    coder rounds, when training rounds elsewhere (see `quantizers.Quantizer`)."""
    options = dict(offset=offset, training=training, step=step, coded_offset=coded_offset)
    y_ent = self.ent_quant(y, **options)
    if self.dec_quant is self.ent_quant or not training:
      return y_ent, y_ent
    return y_ent, self.dec_quant(y, **options)

  @staticmethod
  def rate(prior, values):
    """Bits per image of NHWC `values` under `prior` (its `log_prob` is of the bin mass)."""
    log_prob = prior.log_prob(tf.cast(values, tf.float32))
    log_prob = tf.maximum(log_prob, math.log(LIKELIHOOD_BOUND))
    return tf.reduce_sum(log_prob, axis=(1, 2, 3)) / -math.log(2.0)

  def _set_coder(self, coder):
    """Replaces the frozen tables. Keras stops tracking a replaced attribute only if it is a
    layer or has `trainable_weights`, which TFC's entropy models lack: without this, every
    `finalize` would add another set of tables to the model's variables (and change its
    fingerprint, so that its saved copy would refuse its files)."""
    old = getattr(self, "_coder", None)
    if old is not None:
      self._self_tracked_trackables[:] = [t for t in self._self_tracked_trackables
                                          if t is not old]
    self._coder = coder

  def _require_coder(self):
    if not self.finalized:
      raise RuntimeError(f"{self.name} has no range-coding tables yet: call `finalize()` on "
                         "the model after training, before compress/decompress.")
    return self._coder

  def get_config(self):
    return dict(super().get_config(), ent_quant=quantizers.spec(self.ent_quant),
                dec_quant=quantizers.spec(self.dec_quant))
