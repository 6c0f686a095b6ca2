"""Gaussian-mixture conditional latent codec: K weighted Gaussians per element (K=1: mean-scale)."""

import functools
import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.coding import bisection
from tfquant.latent_codecs.base import LatentCodec
from tfquant.latent_codecs.gaussian_conditional import ScaleLevels, shifted_normal_tables


def _ordered_softmax(logits):
  """Softmax over the last axis from elementwise exp, max and sums in component order."""
  parts = tf.unstack(logits, axis=-1)
  largest = functools.reduce(tf.maximum, parts)
  exps = [tf.exp(part - largest) for part in parts]
  total = functools.reduce(tf.add, exps)
  return tf.stack([e / total for e in exps], axis=-1)


class GaussianMixture:
  """Per-element mixtures Σ_k w_k N(μ_k, σ_k²); tensors of shape [..., K], float32."""

  def __init__(self, weights, means, scales):
    self.weights = weights
    self.means = means
    self.scales = scales

  @property
  def mean(self):
    return tf.reduce_sum(self.weights * self.means, axis=-1)

  def flatten(self):
    """The same mixtures as a [n, K] batch."""
    k = tf.shape(self.weights)[-1]
    return GaussianMixture(*(tf.reshape(t, [-1, k]) for t in (self.weights, self.means,
                                                             self.scales)))

  def mass(self, lower, upper, pivot):
    """P(lower ≤ Y < upper) per element; `pivot` ∈ [lower, upper] picks the tail to use."""
    lower, upper, pivot = (x[..., None] for x in (lower, upper, pivot))
    # Subtracting the tail on the pivot's side of each mean keeps far-tail masses precise
    # (instead of 1 − (1 − ε)).
    upper_side = pivot >= self.means
    sign = tf.where(upper_side, 1.0, -1.0)
    tail = lambda x: 0.5 * tf.math.erfc(sign * (x - self.means) / (self.scales * math.sqrt(2)))
    per_component = tf.where(upper_side, tail(lower) - tail(upper), tail(upper) - tail(lower))
    return tf.reduce_sum(self.weights * tf.maximum(per_component, 0.0), axis=-1)

  def likelihood(self, values):
    """Mass of the unit bin around each value (the density of the mixture ⊛ U(−½, ½))."""
    return self.mass(values - 0.5, values + 0.5, values)


class GaussianMixtureCodec(LatentCodec):
  """A latent coded under a per-element Gaussian mixture whose parameters come from outside.

  ::

      y ──► ent_quant ──► ŷ_ent ──► −log2 Σ_k w_k P(ŷ_ent | μ_k, σ_k) ──► bits
      │        ▲                              ▲
      │     offset (0, or the mixture mean μ̄)  w, μ, σ ◄── entropy parameters (hyper + context)
      └───► dec_quant ──► ŷ_dec ──► synthesis / context model

      coding:  s = round(y − offset) ──► K = 1: one symbol, table picked by (σ, μ's shift)
                                      K > 1: 16 binary decisions from the mixture

  `parameters` (what `mixture` reads) has `num_parameters` × C channels: for K > 1 the
  paper's layout [logit, mean, scale] × K, each C wide; for K = 1 [mean, scale] (Minnen's
  mean-scale Gaussian). Scales are |·| floored at `scale_min`. `center` is where rounding is
  centred, in training and in coding alike: "integer" (the paper's Cheng20 code) or "mean"
  (the mixture mean μ̄ = Σ w_k μ_k).

  A single Gaussian is coded as TFC's and CompressAI's mean-scale models code it, one symbol
  per element under a frozen table (`split_offset`); the tables span scale levels and, as
  rounding need not be centred on μ, μ's shift from the rounding grid in 1/SHIFT_STEPS steps.
  A mixture has too many parameters to tabulate: every element's CDF is computed from its own
  parameters at both ends (see `tfquant.coding.bisection`).
  """

  CENTERS = ("integer", "mean")
  SHIFT_STEPS = 32  # a shift off by ≤ 1/64 costs ≤ 0.01 bit at the smallest scale

  def __init__(self, ent_quant="noise", dec_quant=None, components=3, center="integer",
               scale_min=0.11, **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    if center not in self.CENTERS:
      raise ValueError(f"center must be one of {self.CENTERS}, got {center!r}.")
    if int(components) < 1:
      raise ValueError(f"components must be ≥ 1, got {components!r}.")
    self.components = int(components)
    self.center = center
    self.scale_min = float(scale_min)
    self.scale_levels = ScaleLevels(self.scale_min, 256.0, 64, nearest=True)
    self._coder = None

  @property
  def num_parameters(self):
    """Parameter channels per latent channel."""
    return 3 * self.components if self.components > 1 else 2

  def mixture(self, parameters, integer=False):
    """Splits [..., num_parameters·C] into a GaussianMixture of shape [..., C, K]. With
    `integer` (parameters from integer entropy parameters) the weights' softmax is
    elementwise operations in a fixed order (a fused softmax kernel differs between CPUs)."""
    parameters = tf.cast(parameters, tf.float32)
    rows = self.components if self.components > 1 else 1
    grouped = tf.reshape(parameters, tf.concat(
        [tf.shape(parameters)[:-1], [rows, self.num_parameters // rows, self.channels]], 0))
    grouped = tf.experimental.numpy.moveaxis(grouped, -3, -1)  # [..., kind, C, K]
    if self.components > 1:
      logits, means, scales = tf.unstack(grouped, axis=-3)
      weights = _ordered_softmax(logits) if integer else tf.nn.softmax(logits, axis=-1)
    else:
      means, scales = tf.unstack(grouped, axis=-3)
      weights = tf.ones_like(means)
    return GaussianMixture(weights, means, tfc.lower_bound(tf.abs(scales), self.scale_min))

  def center_offset(self, mixture):
    """What rounding is centred on: None (integers) or the mixture mean."""
    return None if self.center == "integer" else mixture.mean

  def rate(self, mixture, values):
    """Bits per image of NHWC `values` under `mixture`."""
    return self.bits_of_likelihood(mixture.likelihood(tf.cast(values, tf.float32)))

  def coding_offset(self, mixture, dither):
    """Symbol s stands for the value s + this offset (U-Q's dither u enters as −u)."""
    offset = self.center_offset(mixture)
    return (0.0 if offset is None else offset) - dither

  def element_offsets(self, mixture, dither):
    """`coding_offset` for every element (shaped like the mixture mean)."""
    return self.coding_offset(mixture, dither) + tf.zeros_like(mixture.mean)

  def split_offset(self, mixture, dither, integer=False):
    """For a single Gaussian: symbol s = round(y − o) (o the coding offset) is coded as
    s − r under the table of N(δ, σ) with μ − o = r + δ, r an integer, |δ| ≤ ½ (value s + o
    lies t − δ from μ for t = s − r). Returns (o, r as float32, table index); `integer`:
    μ and σ come from integer entropy parameters (σ's level by `exact_index`)."""
    offset = self.element_offsets(mixture, dither)
    distance = mixture.means[..., 0] - offset
    whole = tf.round(distance)
    shift = tf.round((distance - whole + 0.5) * self.SHIFT_STEPS)
    scale = self.scale_levels.index_for(mixture.scales[..., 0], integer)
    table = scale * (self.SHIFT_STEPS + 1) + tf.clip_by_value(shift, 0.0, self.SHIFT_STEPS)
    return offset, whole, tf.cast(table, tf.int32)

  @property
  def reads(self):
    """Reads per group of elements: one symbol each, or bisection's decisions."""
    return 1 if self.components == 1 else bisection.DEPTH

  @property
  def tables(self):
    return self._require_coder() if self.components == 1 else bisection.TABLES

  def encode(self, y, mixture, dither=0.0, integer=False):
    """For elements y [..., C] under `mixture` [..., C, K]: (ŷ, int32 symbols, and what the
    coder codes, in the order `decode` reads it: int32 items and tables, [reads, n] each)."""
    if self.components == 1:
      offset, whole, tables = self.split_offset(mixture, dither, integer)
      symbols = tf.round(tf.cast(y, tf.float32) - offset)
      items = tf.cast(symbols - whole, tf.int32)
      return (symbols + offset, tf.cast(symbols, tf.int32), tf.reshape(items, [1, -1]),
              tf.reshape(tables, [1, -1]))
    offset = self.element_offsets(mixture, dither)
    symbols = tf.round(tf.cast(y, tf.float32) - offset)
    bits, tables = bisection.decisions(tf.cast(tf.reshape(symbols, [-1]), tf.int32),
                                       mixture.flatten(), tf.reshape(offset, [-1]))
    return symbols + offset, tf.cast(symbols, tf.int32), bits, tables

  def decode(self, reader, state, mixture, dither=0.0, integer=False):
    """Inverse of `encode` from a coder's `reader` over `tables`: (state, ŷ of shape
    [..., C], int32 symbols)."""
    if self.components == 1:
      offset, whole, tables = self.split_offset(mixture, dither, integer)
      state, items = reader.read(state, tf.reshape(tables, [-1]))
      symbols = tf.reshape(tf.cast(items, tf.float32), tf.shape(offset)) + whole
    else:
      offset = self.element_offsets(mixture, dither)
      state, symbols = bisection.decode(reader, state, mixture.flatten(),
                                        tf.reshape(offset, [-1]), tf.size(offset))
      symbols = tf.cast(tf.reshape(symbols, tf.shape(offset)), tf.float32)
    return state, symbols + offset, tf.cast(symbols, tf.int32)

  def finalize(self):
    """A single Gaussian gets indexed tables over (scale level, shift δ); mixtures need
    none (bisection computes every element's own)."""
    if self.components == 1:
      levels = self.scale_levels
      shifts = [f / self.SHIFT_STEPS - 0.5 for f in range(self.SHIFT_STEPS + 1)]
      self._coder = shifted_normal_tables(
          [float(levels.level(i)) for i in range(levels.count)], shifts)

  @property
  def finalized(self):
    return self.components > 1 or self._coder is not None

  def prepare_restore(self, coder_config):
    del coder_config
    self.finalize()

  def coder_config(self):
    return {}

  def get_config(self):
    return dict(super().get_config(), components=self.components, center=self.center,
                scale_min=self.scale_min)
