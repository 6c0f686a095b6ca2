"""What every latent codec shares: a quantizer pair and the rate of quantized values."""

import math

import tensorflow as tf

from tfquant import quantizers

# Probabilities are floored here before taking logs, as in TFC v1 and CompressAI, so that a
# value far in a tail costs at most ~30 bits instead of an infinite or NaN gradient.
LIKELIHOOD_BOUND = 1e-9
RANGE_CODER_PRECISION = 16
TAIL_MASS = 2**-8


def _bits_of_log_prob(log_prob):
  log_prob = tf.maximum(log_prob, math.log(LIKELIHOOD_BOUND))
  return tf.reduce_sum(log_prob, axis=(1, 2, 3)) / -math.log(2.0)


class LatentCodec(tf.keras.layers.Layer):
  """Owns one latent: its entropy-model quantizer, its decoder quantizer and its coder.

  The entropy-model quantizer (`ent_quant`) makes the values whose likelihood is the rate;
  the decoder quantizer (`dec_quant`) makes the values passed on to synthesis. When both are
  the same quantizer, one sample serves both, as in the paper's code. Outside training both
  are hard rounding around the codec's offset, which is exactly what the coder transmits.
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
  def bits(prior, values):
    """Bits of `values` under `prior` (a noisy prior: its density is the bin mass), per image."""
    return _bits_of_log_prob(prior.log_prob(tf.cast(values, tf.float32)))

  @staticmethod
  def bits_of_likelihood(likelihood):
    """Bits of NHWC bin probabilities, per image."""
    return _bits_of_log_prob(tf.math.log(tf.maximum(likelihood, LIKELIHOOD_BOUND)))

  @property
  def finalized(self):
    return getattr(self, "_coder", None) is not None

  def _require_coder(self):
    if not self.finalized:
      raise RuntimeError(f"{self.name} has no range-coding tables yet: call `finalize()` on "
                         "the model after training, before compress/decompress.")
    return self._coder

  def get_config(self):
    return dict(super().get_config(), ent_quant=quantizers.spec(self.ent_quant),
                dec_quant=quantizers.spec(self.dec_quant))
