"""Hyperprior latent codec: side information z predicts the Gaussian parameters of y."""

import tensorflow as tf

from tfquant.coding import coders
from tfquant.latent_codecs.factorized import FactorizedCodec
from tfquant.latent_codecs.gaussian_conditional import GaussianConditionalCodec
from tfquant.latent_codecs.integer_network import Fixed, IntegerNetwork


class HyperCodecBase(tf.keras.layers.Layer):
  """What every hyperprior-style codec exposes: y and z codecs, and h_a on the encoder side."""

  @property
  def encoder_layers(self):
    return [self.hyper_analysis]

  @property
  def latent_codecs(self):
    return {"y": self.y_codec, "z": self.z_codec}

  @property
  def has_integer_parameters(self):
    """Whether coding can choose y's tables with integer entropy parameters
    (`integer_network`), the same on every machine."""
    return True

  def hyper_features(self, z_hat, integer=False):
    """h_s(ẑ): float32, or with `integer` a `Fixed` from the integer twin of h_s."""
    if integer:
      return IntegerNetwork(self.hyper_synthesis.layers)(Fixed.from_float(z_hat))
    return tf.cast(self.hyper_synthesis(z_hat), tf.float32)

  @staticmethod
  def decode_y_if(z_ok, z_symbols, accept_side_info, decode_y):
    """`decode_y()` → (ŷ, y symbols, y ok) only if z's string decoded cleanly and its symbols
    pass `accept_side_info([z symbols])` (None: no check); else an empty ŷ. Returns (ŷ, y
    symbols, ok of both). z is small and y is where decoding spends its time, so a damaged z
    string, or a forged image shape, is refused before y is decoded: the "tf" coder notices
    a z string that ends too early, TFC's range decoder does not (it reads zeros past the
    end), and the container's side-information check catches both."""
    if accept_side_info is not None:
      z_ok = z_ok & accept_side_info([z_symbols])

    def refuse():
      empty = tf.zeros([1, 0, 0, 0])
      return empty, tf.cast(empty, tf.int32), tf.constant(False)

    y_hat, y_symbols, y_ok = tf.cond(z_ok, decode_y, refuse)
    return y_hat, y_symbols, z_ok & y_ok


class HyperpriorCodec(HyperCodecBase):
  """Scale (Ballé et al. 2018) or mean-scale (Minnen et al. 2018) hyperprior around y.

  ::

      y ──► h_a(|y| or y) ──► z ──► [FactorizedCodec z] ──► ẑ_dec ──► h_s ──► σ (, μ)
      │                                                                        │
      └──────────────────────► [GaussianConditionalCodec y] ◄──────────────────┘
                                        │
                                        └──► ŷ_dec, bits(y) + bits(z)

  `hyper_synthesis` outputs σ (scale-only) or [μ, σ] stacked on channels (`mean=True`).
  Each latent has its own quantizer pair. The strings are [y, z]; z's spatial shape is y's
  divided by `hyper_stride` (the model pads inputs so that this is exact).
  """

  def __init__(self, hyper_analysis, hyper_synthesis, y_codec, z_codec, mean=False,
               abs_input=True, hyper_stride=4, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(y_codec, GaussianConditionalCodec):
      raise TypeError("y_codec must be a GaussianConditionalCodec.")
    if not isinstance(z_codec, FactorizedCodec):
      raise TypeError("z_codec must be a FactorizedCodec.")
    self.hyper_analysis = hyper_analysis
    self.hyper_synthesis = hyper_synthesis
    self.y_codec = y_codec
    self.z_codec = z_codec
    self.mean = bool(mean)
    self.abs_input = bool(abs_input)
    self.hyper_stride = int(hyper_stride)

  def _gaussian_parameters(self, z_hat, integer=False):
    params = self.hyper_features(z_hat, integer)
    params = params.to_float() if integer else params
    if self.mean:
      mean, scale = tf.split(params, 2, axis=-1)
      return scale, mean
    return params, None

  def _side_input(self, y):
    return tf.abs(y) if self.abs_input else y

  def call(self, y, training=None, step=None):
    """Returns (ŷ_dec, {"y": bits per image, "z": bits per image})."""
    z = self.hyper_analysis(self._side_input(y))
    z_dec, z_bits = self.z_codec(z, training=training, step=step)
    scale, mean = self._gaussian_parameters(z_dec)
    y_dec, y_bits = self.y_codec(y, scale, mean, training=training, step=step)
    return y_dec, {"y": y_bits, "z": z_bits}

  def compress(self, y, coder=coders.DEFAULT, dither=None, integer=False):
    """Strings [y, z] and their symbols; `dither` applies to y only (z is side information);
    `integer`: y's tables chosen by integer entropy parameters."""
    z = self.hyper_analysis(self._side_input(y))
    z_string, z_symbols = self.z_codec.compress(z, coder)
    scale, mean = self._gaussian_parameters(self.z_codec.values(z_symbols), integer)
    y_string, y_symbols = self.y_codec.compress(y, scale, mean, coder, dither, integer)
    return [y_string, z_string], [y_symbols, z_symbols]

  def decompress(self, strings, spatial_shape, coder=coders.DEFAULT, dither=None,
                 accept_side_info=None, integer=False):
    """(ŷ, [y symbols, z symbols], ok); see `decode_y_if` for `accept_side_info`."""
    y_strings, z_strings = strings
    z_hat, z_symbols, z_ok = self.z_codec.decompress(
        z_strings, spatial_shape // self.hyper_stride, coder)

    def decode_y():
      scale, mean = self._gaussian_parameters(z_hat, integer)
      return self.y_codec.decompress(y_strings, scale, mean, coder, dither, integer)

    y_hat, y_symbols, ok = self.decode_y_if(z_ok, z_symbols, accept_side_info, decode_y)
    return y_hat, [y_symbols, z_symbols], ok
