"""Hyperprior latent codecs: side information z predicts the entropy parameters of y."""

import tensorflow as tf

from tfquant.coding import coders
from tfquant.latent_codecs.base import LatentCodec
from tfquant.latent_codecs.integer_network import Fixed, IntegerNetwork


def spatial_shape(hyper):
  """[B, H, W] of ψ, float or `Fixed`."""
  return tf.shape(hyper.mantissas if isinstance(hyper, Fixed) else hyper)[:3]


class HyperCodec(LatentCodec):
  """y coded under parameters predicted from side information z.

  ::

      y ──► h_a(|y| or y) ──► z ──► [z_codec] ──► ẑ ──► h_s ──► ψ ──► (y's coding: subclasses)

  The z branch, in training, encoding and decoding; subclasses code y from ψ (`forward_y`,
  `compress_y`, `decompress_y`). A base class rather than a child layer, so that every
  variable keeps the path (and the order) that saved models and zoo entries have.

  Args:
    hyper_analysis, hyper_synthesis: h_a and h_s.
    y_codec: y's codec, a `QuantizedLatentCodec`.
    z_codec: z's codec, which needs no parameters (a `FactorizedCodec`).
    entropy_parameters: a network from ψ (with a context, [φ, ψ]) to y's parameters; None:
      ψ are the parameters.
    abs_input: h_a sees |y| (Ballé18) rather than y.
    hyper_stride: y's spatial shape over z's (the model pads inputs so that it is exact).
  """

  latents = ("y", "z")

  def __init__(self, hyper_analysis, hyper_synthesis, y_codec, z_codec,
               entropy_parameters=None, abs_input=False, hyper_stride=4, **kwargs):
    super().__init__(**kwargs)
    self.hyper_analysis = hyper_analysis
    self.hyper_synthesis = hyper_synthesis
    self.entropy_parameters = entropy_parameters
    self.y_codec = y_codec
    self.z_codec = z_codec
    self.abs_input = bool(abs_input)
    self.hyper_stride = int(hyper_stride)

  @property
  def latent_codecs(self):
    return {"y": self.y_codec, "z": self.z_codec}

  @property
  def encoder_layers(self):
    return [self.hyper_analysis]

  @property
  def has_integer_parameters(self):
    return True

  def build(self, input_shape):
    if not self.y_codec.built:  # a context codec calls its methods, never the layer
      self.y_codec.build(input_shape)
    super().build(input_shape)

  def hyper_features(self, z_hat, integer=False):
    """ψ = h_s(ẑ): float32, or with `integer` a `Fixed` from the integer twin of h_s."""
    if integer:
      return IntegerNetwork(self.hyper_synthesis.layers)(Fixed.from_float(z_hat))
    return tf.cast(self.hyper_synthesis(z_hat), tf.float32)

  def y_parameters(self, features, integer=False):
    """y's parameters from `features` (ψ, or [φ, ψ]; a `Fixed` with `integer`), float32."""
    network = self.entropy_parameters
    if integer:
      return (features if network is None else IntegerNetwork(network.layers)(features)
             ).to_float()
    return features if network is None else network(features)

  def _analyse(self, y):
    """z = h_a(|y| or y)."""
    return self.hyper_analysis(tf.abs(y) if self.abs_input else y)

  def _side(self, y, training, step):
    z = self._analyse(y)
    z_dec, z_bits = self.z_codec(z, training=training, step=step)
    return self.hyper_features(z_dec), z_bits["y"]

  def call(self, y, params=None, training=None, step=None):
    del params  # predicted here
    hyper, z_bits = self._side(y, training, step)
    y_dec, y_bits = self.forward_y(y, hyper, training, step)
    return y_dec, {"y": y_bits, "z": z_bits}

  def compress(self, y, params=None, *, coder=coders.DEFAULT, dither=None, integer=False):
    del params
    [z_string], [z_symbols] = self.z_codec.compress(self._analyse(y), coder=coder)
    hyper = self.hyper_features(self.z_codec.values(z_symbols), integer)
    y_string, y_symbols = self.compress_y(y, hyper, coder, dither, integer)
    return [y_string, z_string], [y_symbols, z_symbols]

  def decompress(self, strings, spatial_shape, params=None, *, coder=coders.DEFAULT,
                 dither=None, integer=False, accept_side_info=None):
    """z is small and y is where decoding spends its time, so a damaged z string, or a
    forged image shape, is refused before y is decoded: the "tf" coder notices a z string
    that ends too early, TFC's range decoder does not (it reads zeros past the end), and
    the container's side-information check (`accept_side_info`) catches both."""
    del params
    y_string, z_string = strings
    z_hat, [z_symbols], z_ok = self.z_codec.decompress(
        [z_string], spatial_shape // self.hyper_stride, coder=coder)
    if accept_side_info is not None:
      z_ok = z_ok & accept_side_info([z_symbols])

    def decode_y():
      hyper = self.hyper_features(z_hat, integer)
      return self.decompress_y(y_string, hyper, coder, dither, integer)

    def refuse():
      empty = tf.zeros([1, 0, 0, 0])
      return empty, tf.cast(empty, tf.int32), tf.constant(False)

    y_hat, y_symbols, y_ok = tf.cond(z_ok, decode_y, refuse)
    return y_hat, [y_symbols, z_symbols], z_ok & y_ok

  def forward_y(self, y, hyper, training, step):
    """y's training forward pass given ψ: (ŷ_dec, bits per image)."""
    raise NotImplementedError

  def compress_y(self, y, hyper, coder, dither, integer):
    """y's (string [1], int32 symbols) given ψ (a `Fixed` with `integer`)."""
    raise NotImplementedError

  def decompress_y(self, string, hyper, coder, dither, integer):
    """(ŷ, int32 symbols, ok) from `compress_y`'s string given ψ."""
    raise NotImplementedError


class HyperpriorCodec(HyperCodec):
  """Scale (Ballé et al. 2018) or mean-scale (Minnen et al. 2018, Cheng et al. 2020 without
  context) hyperprior: y's codec takes its parameters from ψ, through `entropy_parameters`
  when there is one.

  ::

      y ──► h_a ──► z ──► [FactorizedCodec z] ──► ẑ_dec ──► h_s ──► ψ (──► g_ep) ──► params
      │                                                                               │
      └───────────────► [y codec: Gaussian(σ), (μ, σ) or a mixture] ◄────────────────┘
                                        │
                                        └──► ŷ_dec, bits(y) + bits(z)
  """

  def forward_y(self, y, hyper, training, step):
    y_dec, bits = self.y_codec(y, self.y_parameters(hyper), training=training, step=step)
    return y_dec, bits["y"]

  def compress_y(self, y, hyper, coder, dither, integer):
    [string], [symbols] = self.y_codec.compress(y, self.y_parameters(hyper, integer),
                                                coder=coder, dither=dither, integer=integer)
    return string, symbols

  def decompress_y(self, string, hyper, coder, dither, integer):
    y_hat, [symbols], ok = self.y_codec.decompress(
        [string], spatial_shape(hyper)[1:], self.y_parameters(hyper, integer), coder=coder,
        dither=dither, integer=integer)
    return y_hat, symbols, ok
