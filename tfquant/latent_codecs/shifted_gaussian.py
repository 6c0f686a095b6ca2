"""Mean-scale Gaussian latent codec whose rounding need not be centred on the mean."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.latent_codecs.gaussian_conditional import ScaleLevels, shifted_normal_tables
from tfquant.latent_codecs.gaussian_mixture import GaussianMixture, PredictedMixtureCodec


class ShiftedGaussianCodec(PredictedMixtureCodec):
  """One Gaussian N(μ, σ²) per element (Minnen et al. 2018), coded as TFC's and CompressAI's
  mean-scale models code it, one symbol per element under a frozen table; but rounding is
  centred on the integers or on μ (`center`), so the tables span scale levels and μ's shift
  from the rounding grid.

  ::

      coding:  s = round(y − o) ──► s − r under the table of (σ's level, δ's step)
               where μ − o = r + δ, r an integer, |δ| ≤ ½

  `params`: [mean, scale], each C wide. σ is coded with the nearest of `num_scales`
  log-spaced levels between `scale_min` and `scale_max`, δ in 1/SHIFT_STEPS steps.
  """

  SHIFT_STEPS = 32  # a shift off by ≤ 1/64 costs ≤ 0.01 bit at the smallest scale
  components = 1
  num_parameters = 2
  reads = 1

  def __init__(self, ent_quant="noise", dec_quant=None, scale_max=256.0, num_scales=64,
               **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    self.scale_max = float(scale_max)
    self.num_scales = int(num_scales)
    self.scale_levels = ScaleLevels(self.scale_min, self.scale_max, self.num_scales,
                                    nearest=True)
    self._coder = None

  def mixture(self, params, integer=False):
    del integer  # no operation here differs between machines
    means, scales = tf.unstack(self._grouped(params, 1), axis=-3)
    return GaussianMixture(tf.ones_like(means), means,
                           tfc.lower_bound(tf.abs(scales), self.scale_min))

  def _split(self, mixture, offset, integer):
    """(r as float32, table index) for symbols round(y − `offset`); `integer`: σ's level by
    `exact_index`."""
    distance = mixture.means[..., 0] - offset
    whole = tf.round(distance)
    shift = tf.round((distance - whole + 0.5) * self.SHIFT_STEPS)
    scale = self.scale_levels.index_for(mixture.scales[..., 0], integer)
    table = scale * (self.SHIFT_STEPS + 1) + tf.clip_by_value(shift, 0.0, self.SHIFT_STEPS)
    return whole, tf.cast(table, tf.int32)

  def encode(self, y, mixture, dither=0.0, integer=False):
    offset = self.offsets(mixture, dither)
    whole, tables = self._split(mixture, offset, integer)
    symbols = tf.round(tf.cast(y, tf.float32) - offset)
    items = tf.cast(symbols - whole, tf.int32)
    return (symbols + offset, tf.cast(symbols, tf.int32), tf.reshape(items, [1, -1]),
            tf.reshape(tables, [1, -1]))

  def decode(self, reader, state, mixture, dither=0.0, integer=False):
    offset = self.offsets(mixture, dither)
    whole, tables = self._split(mixture, offset, integer)
    state, items = reader.read(state, tf.reshape(tables, [-1]))
    symbols = tf.reshape(tf.cast(items, tf.float32), tf.shape(offset)) + whole
    return state, symbols + offset, tf.cast(symbols, tf.int32)

  def tables(self, dither=None):
    return self._require_coder()

  def finalize(self):
    """Indexed tables over (scale level, shift δ)."""
    levels = self.scale_levels
    shifts = [f / self.SHIFT_STEPS - 0.5 for f in range(self.SHIFT_STEPS + 1)]
    self._set_coder(shifted_normal_tables(
        [float(levels.level(i)) for i in range(levels.count)], shifts))

  def get_config(self):
    return dict(super().get_config(), scale_max=self.scale_max, num_scales=self.num_scales)
