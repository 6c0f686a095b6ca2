"""Gaussian conditional latent codec: scale-only or mean-scale, parameters given per element."""

import math
import statistics

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.coding import coders
from tfquant.coding.tables import IndexedTables, quantized_tables
from tfquant.latent_codecs.base import QuantizedLatentCodec, RANGE_CODER_PRECISION, TAIL_MASS


class ScaleLevels:
  """`count` log-spaced scales from `minimum` to `maximum`: what indexed Gaussian tables are
  built for. A scale is coded with the smallest level ≥ it (TFC's choice), or with the
  nearest in log scale (`nearest`: half the mismatch on average)."""

  def __init__(self, minimum, maximum, count, nearest=False):
    self.minimum, self.count, self.nearest = float(minimum), int(count), nearest
    self._log_min = math.log(self.minimum)
    self._log_step = (math.log(maximum) - self._log_min) / (self.count - 1)
    # Where `index` steps from i to i + 1, in float32: comparing against these needs no
    # logarithm, whose last bits differ between CPU kernels (`exact_index`).
    step = 0.5 if nearest else 1e-4
    self._thresholds = [self.minimum * math.exp(self._log_step * (i + step))
                        for i in range(self.count - 1)]

  def level(self, index):
    return tf.exp(self._log_min + self._log_step * tf.cast(index, tf.float32))

  def index(self, scale):
    """Index of the level for `scale` (clipped to the table), as float32."""
    scale = tf.maximum(tf.cast(scale, tf.float32), self.minimum)
    position = (tf.math.log(scale) - self._log_min) / self._log_step
    index = tf.round(position) if self.nearest else tf.math.ceil(position - 1e-4)
    return tf.clip_by_value(index, 0.0, self.count - 1.0)

  def exact_index(self, scale):
    """`index` by comparisons with the levels' boundaries: the same on every machine (the
    two differ only for scales within float32 rounding of a boundary)."""
    scale = tf.cast(scale, tf.float32)
    index = tf.searchsorted(tf.constant([self._thresholds], tf.float32),
                            tf.reshape(scale, [1, -1]), side="left")
    return tf.reshape(tf.cast(index, tf.float32), tf.shape(scale))

  def index_for(self, scale, integer):
    """`exact_index` for integer entropy parameters, else `index` (float files)."""
    return self.exact_index(scale) if integer else self.index(scale)


def shifted_normal_tables(scales, shifts, tail_mass=TAIL_MASS):
  """IndexedTables of N(δ, σ²) ⊛ U(−½, ½) over the integers, for every (σ, δ) pair of the
  float lists (table index: σ's position × len(shifts) + δ's), each wide enough to hold all
  but `tail_mass` of its mass (the rest is the overflow symbol's)."""
  quantile = statistics.NormalDist().inv_cdf(1.0 - tail_mass / 2)
  reach = max(abs(d) for d in shifts) + 0.5
  halves = [math.ceil(sigma * quantile + reach) for sigma in scales for _ in shifts]
  width = 2 * max(halves) + 1
  grid = tf.range(width, dtype=tf.float64)[None, :] - tf.constant(halves, tf.float64)[:, None]
  scale = tf.constant([sigma for sigma in scales for _ in shifts], tf.float64)[:, None]
  shift = tf.constant([d for _ in scales for d in shifts], tf.float64)[:, None]
  pmf = tfc.NoisyNormal(loc=shift, scale=scale).prob(grid)
  cdf = quantized_tables(pmf, [2 * h + 1 for h in halves])
  return IndexedTables(cdf, [-h for h in halves])


class GaussianConditionalCodec(QuantizedLatentCodec):
  """A latent coded under N(μ, σ²) convolved with U(−½, ½), μ and σ given per element.

  ::

      y ──► ent_quant ──► ŷ_ent ──► −log2 P(ŷ_ent | μ, σ) ──► bits
      │        ▲                        ▲   ▲
      │     offset                      μ   σ ◄── params, from a hyperprior
      └───► dec_quant ──► ŷ_dec ──► synthesis

      coding:  round(y − μ) ──► coder, table picked by σ's index in the scale table

  `params` are σ (Ballé18) or, with `mean`, [μ, σ] stacked on channels; without a mean μ = 0.
  σ is floored at `scale_min` in training; for coding it is rounded up to one of
  `num_scales` log-spaced levels between `scale_min` and `scale_max`, and outside training
  the rate is computed with that level, i.e. it is exactly what the coder is given.
  `train_center` is where training quantizers round: "integer" (the paper's code) or
  "mean"; outside training rounding is always around μ.
  """

  CENTERS = ("integer", "mean")

  def __init__(self, ent_quant="noise", dec_quant=None, mean=False, train_center="integer",
               scale_min=0.11, scale_max=256.0, num_scales=64, **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    if train_center not in self.CENTERS:
      raise ValueError(f"train_center must be one of {self.CENTERS}, got {train_center!r}.")
    self.mean = bool(mean)
    self.train_center = train_center
    self.scale_min = float(scale_min)
    self.scale_max = float(scale_max)
    self.num_scales = int(num_scales)
    self.scale_levels = ScaleLevels(self.scale_min, self.scale_max, self.num_scales)
    self.scale_level, self.scale_index = self.scale_levels.level, self.scale_levels.index
    self._coder = None

  def scale_and_mean(self, params):
    """(σ, μ or None) from `params`."""
    if self.mean:
      mean, scale = tf.split(params, 2, axis=-1)
      return scale, mean
    return params, None

  def call(self, y, params=None, training=None, step=None):
    scale, mean = self.scale_and_mean(params)
    offset = mean if (not training or self.train_center == "mean") else None
    y_ent, y_dec = self.quantize_pair(y, offset, training, step, coded_offset=mean)
    scale = tf.cast(scale, tf.float32)
    if training:
      scale = tfc.lower_bound(scale, self.scale_min)
    else:
      scale = self.scale_level(self.scale_index(scale))
    loc = 0.0 if mean is None else tf.cast(mean, tf.float32)
    return y_dec, {"y": self.rate(tfc.NoisyNormal(loc=loc, scale=scale), y_ent)}

  def finalize(self):
    self._set_coder(tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, self.num_scales, self.scale_level, coding_rank=3, compression=True,
        tail_mass=TAIL_MASS, range_coder_precision=RANGE_CODER_PRECISION,
        bottleneck_dtype=tf.float32))

  def prepare_restore(self, coder_config):
    del coder_config  # The tables are a function of the scale levels; the checkpoint refills them.
    self.finalize()

  def coder_config(self):
    self._require_coder()
    return {}

  def tables(self, dither=None):
    """The coding tables, one per scale level; with U-Q's dither u, bins shifted by −u
    (symbols s stand for s + μ − u), built anew in TF ops over the frozen tables' ranges."""
    coder = self._require_coder()
    frozen = IndexedTables(coder.cdf, coder.cdf_offset)
    if dither is None:
      return frozen
    lengths = frozen.sizes - 2
    grid = tf.range(tf.reduce_max(lengths), dtype=tf.float32)[:, None]
    prior = tfc.NoisyNormal(loc=0.0, scale=self.scale_level(tf.range(self.num_scales)))
    pmf = prior.prob(tf.cast(coder.cdf_offset, tf.float32) - dither + grid)
    return IndexedTables(quantized_tables(tf.transpose(pmf), lengths), coder.cdf_offset)

  @staticmethod
  def _center(mean, dither):
    return (0.0 if mean is None else tf.cast(mean, tf.float32)) - (
        0.0 if dither is None else dither)

  def _indexes(self, scale, integer):
    """σ's table indexes; with integer entropy parameters by `exact_index`."""
    return tf.cast(self.scale_levels.index_for(scale, integer), tf.int32)

  def compress(self, y, params=None, *, coder=coders.DEFAULT, dither=None, integer=False):
    """Symbols round(y − μ + u)."""
    self._require_coder()
    scale, mean = self.scale_and_mean(params)
    symbols = tf.cast(tf.round(tf.cast(y, tf.float32) - self._center(mean, dither)), tf.int32)
    string = coders.get(coder).encode(symbols, self._indexes(scale, integer),
                                      self.tables(dither))
    return [tf.reshape(string, [1])], [symbols]

  def decompress(self, strings, spatial_shape, params=None, *, coder=coders.DEFAULT,
                 dither=None, integer=False, accept_side_info=None):
    """ŷ = s + μ − u."""
    del spatial_shape, accept_side_info  # the parameters have y's shape; no side latent
    self._require_coder()
    scale, mean = self.scale_and_mean(params)
    symbols, ok = coders.get(coder).decode(strings[0][0], self._indexes(scale, integer),
                                           self.tables(dither))
    return tf.cast(symbols, tf.float32) + self._center(mean, dither), [symbols], ok

  def get_config(self):
    return dict(super().get_config(), mean=self.mean, train_center=self.train_center,
                scale_min=self.scale_min, scale_max=self.scale_max, num_scales=self.num_scales)
