"""Factorized latent codec: one learned density per channel, shared over space."""

import math

import tensorflow as tf
import tensorflow_compression as tfc
from tensorflow_compression.python.distributions import helpers

from tfquant.coding import coders
from tfquant.coding.tables import IndexedTables, quantized_tables
from tfquant.latent_codecs.base import QuantizedLatentCodec, RANGE_CODER_PRECISION, TAIL_MASS


class NoisyDeepFactorized(tfc.NoisyDeepFactorized):
  """TFC's density, whose median (the coding offset) and tails (the tables' ranges) are found
  by bisecting its increasing cumulative logits in a fixed number of steps.

  TFC's own search takes Adam steps until every channel has crossed its target: where a
  channel's slope vanishes the steps shrink to nothing before it crosses, and the loop, traced
  in `finalize`, never ends, out of reach of any Python timeout."""

  SEARCH_BOUND = 2.0**12  # the search stays within ±4096, beyond any latent an image gives
  SEARCH_STEPS = 48  # bisection from ±4096 reaches float32's resolution within 40 steps

  def _search(self, logit):
    """Per channel, the x within ±SEARCH_BOUND whose cumulative logit is `logit`."""
    logits_cumulative = self.base._logits_cumulative  # pylint: disable=protected-access
    shape = self.batch_shape_tensor()

    def halve(low, high):
      middle = (low + high) / 2
      below = logits_cumulative(middle) < logit
      return tf.where(below, middle, low), tf.where(below, high, middle)

    low, high = tf.while_loop(
        lambda *_: tf.constant(True), halve,
        (tf.fill(shape, -self.SEARCH_BOUND), tf.fill(shape, self.SEARCH_BOUND)),
        maximum_iterations=self.SEARCH_STEPS)
    return tf.stop_gradient((low + high) / 2)

  def _quantization_offset(self):
    return self._search(0.0)  # the median: helpers.quantization_offset keeps its fraction

  def _lower_tail(self, tail_mass):
    return self._search(-self._tail_logit(tail_mass))

  def _upper_tail(self, tail_mass):
    return self._search(self._tail_logit(tail_mass))

  @staticmethod
  def _tail_logit(tail_mass):
    """The cumulative logit above which `tail_mass / 2` of the mass lies."""
    return math.log((1.0 - tail_mass / 2) / (tail_mass / 2))


class FactorizedCodec(QuantizedLatentCodec):
  """Deep factorized prior (Ballé et al. 2018) for y in Ballé17 and z in every hyperprior.

  ::

      y ──► ent_quant ──► ŷ_ent ──► −log2 p(ŷ_ent), p = deep factorized per channel ──► bits
      └───► dec_quant ──► ŷ_dec ──► synthesis / hyper-synthesis

      coding:  y ──► round(y − o) ──► coder (one CDF table per channel) ──► string

  `center` is where inference rounding is centred: "median" (the offset o is the median's
  fractional part, frozen with the tables, as TFC does) or "integer" (o = 0).
  `train_center` is the same choice during training; the paper's code rounds around integers.
  """

  CENTERS = ("median", "integer")

  def __init__(self, ent_quant="noise", dec_quant=None, center="median",
               train_center="integer", **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    for option, value in (("center", center), ("train_center", train_center)):
      if value not in self.CENTERS:
        raise ValueError(f"{option} must be one of {self.CENTERS}, got {value!r}.")
    self.center = center
    self.train_center = train_center
    self._coder = None

  def build(self, input_shape):
    super().build(input_shape)
    with tf.name_scope(self.name):
      self.prior = NoisyDeepFactorized(batch_shape=(self.channels,), dtype=tf.float32)

  def offset(self, training):
    """The quantization offset (None for integers)."""
    if not training and self.finalized:
      return self._coder.quantization_offset
    center = self.train_center if training else self.center
    if center == "integer":
      return None
    return helpers.quantization_offset(self.prior)

  def quantize(self, y):
    """Hard quantization, as transmitted."""
    return self.ent_quant(y, offset=self.offset(False), training=False)

  def call(self, y, params=None, training=None, step=None):
    del params  # the prior is the codec's own
    y_ent, y_dec = self.quantize_pair(y, self.offset(training), training, step,
                                      coded_offset=lambda: self.offset(False))
    return y_dec, {"y": self.rate(self.prior, y_ent)}

  def finalize(self):
    """Freezes the range-coding tables (and the median offset) from the current prior."""
    options = dict(coding_rank=3, compression=True, tail_mass=TAIL_MASS,
                   bottleneck_dtype=tf.float32)

    # The tail and median searches are iterative: traced, they take a fraction of the time.
    @tf.function(autograph=False)
    def tables():
      coder = tfc.ContinuousBatchedEntropyModel(
          self.prior, stateless=True, range_coder_precision=RANGE_CODER_PRECISION,
          offset_heuristic=self.center == "median", **options)
      offset = coder.quantization_offset
      return coder.cdf, coder.cdf_offset, tf.zeros([0]) if offset is None else offset

    cdf, cdf_offset, offset = tables()
    self._set_coder(tfc.ContinuousBatchedEntropyModel(
        prior_shape=self.prior.batch_shape, cdf=cdf, cdf_offset=cdf_offset,
        quantization_offset=offset if offset.shape[0] else None, offset_heuristic=False,
        **options))

  def prepare_restore(self, coder_config):
    """Creates empty tables shaped as in `coder_config`, to be filled by a checkpoint."""
    self._set_coder(tfc.ContinuousBatchedEntropyModel(**coder_config))

  def coder_config(self):
    return self._require_coder().get_config()

  def tables(self, dither=None):
    """The coding tables; with U-Q's dither u, bins shifted by −u (symbols s stand for
    s + o − u), built anew in TF ops from the frozen tables' ranges."""
    coder = self._require_coder()
    frozen = IndexedTables(coder.cdf, coder.cdf_offset)
    if dither is None:
      return frozen
    offset = 0.0 if coder.quantization_offset is None else coder.quantization_offset
    lengths = frozen.sizes - 2
    grid = tf.range(tf.reduce_max(lengths), dtype=tf.float32)[:, None]
    pmf = self.prior.prob(tf.cast(coder.cdf_offset, tf.float32) + offset - dither + grid)
    return IndexedTables(quantized_tables(tf.transpose(pmf), lengths), coder.cdf_offset)

  def symbols(self, y, dither=None):
    """int32 symbols of y, as coded: round(y − o + u)."""
    offset = self._require_coder().quantization_offset
    shifted = tf.cast(y, tf.float32) - (0.0 if offset is None else offset) + (
        0.0 if dither is None else dither)
    return tf.cast(tf.round(shifted), tf.int32)

  def values(self, symbols, dither=None):
    """Inverse of `symbols`: s + o − u."""
    offset = self._require_coder().quantization_offset
    return tf.cast(symbols, tf.float32) + (0.0 if offset is None else offset) - (
        0.0 if dither is None else dither)

  def _indexes(self, shape):
    return tf.broadcast_to(tf.range(self.channels), shape)

  def compress(self, y, params=None, *, coder=coders.DEFAULT, dither=None, integer=False):
    del params, integer  # no network chooses the tables
    symbols = self.symbols(y, dither)
    string = coders.get(coder).encode(symbols, self._indexes(tf.shape(symbols)),
                                      self.tables(dither))
    return [tf.reshape(string, [1])], [symbols]

  def decompress(self, strings, spatial_shape, params=None, *, coder=coders.DEFAULT,
                 dither=None, integer=False, accept_side_info=None):
    del params, integer, accept_side_info  # one latent, no side information
    shape = tf.concat([[1], spatial_shape, [self.channels]], 0)
    symbols, ok = coders.get(coder).decode(strings[0][0], self._indexes(shape),
                                           self.tables(dither))
    return self.values(symbols, dither), [symbols], ok

  def get_config(self):
    return dict(super().get_config(), center=self.center, train_center=self.train_center)
