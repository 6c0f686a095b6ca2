"""Gaussian-mixture latent codecs: K weighted Gaussians per element, parameters from outside."""

import functools
import math

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.coding import bisection, coders
from tfquant.latent_codecs import portable_math
from tfquant.latent_codecs.base import LIKELIHOOD_BOUND, QuantizedLatentCodec


def _portable_softmax(logits):
  """Softmax over the last axis, the same on every machine: `portable_math.exp`, then the
  sum a reduction makes (`GaussianMixture`). Weights below e^−80 of the largest are e^−80
  of it (normal floats)."""
  exps = portable_math.exp(tf.maximum(logits - tf.reduce_max(logits, -1, keepdims=True),
                                      -80.0))
  return exps / tf.reduce_sum(exps, -1, keepdims=True)


class GaussianMixture:
  """Per-element mixtures Σ_k w_k N(μ_k, σ_k²); tensors of shape [..., K], float32.

  `portable`: coding (`edge`, `split`) uses only operations that every machine computes
  alike (IEEE arithmetic in a fixed order, `portable_math`'s erfc, no subnormals), for
  tables chosen by integer entropy parameters. Sums over components are reductions, which
  add in component order (tests/test_context_models.py): a chain of adds is Grappler's to
  reassociate (into an AddN that adds the last term first), by rules that depend on the
  graph around it, so the same code rounded otherwise in another graph.
  """

  def __init__(self, weights, means, scales, portable=False):
    self.weights = weights
    self.means = means
    self.scales = scales
    self.portable = portable

  @property
  def mean(self):
    if self.portable:  # float64: no product of weight and mean is subnormal
      return tf.cast(tf.reduce_sum(tf.cast(self.weights, tf.float64) *
                                   tf.cast(self.means, tf.float64), axis=-1), tf.float32)
    return tf.reduce_sum(self.weights * self.means, axis=-1)

  def flatten(self):
    """The same mixtures as a [n, K] batch."""
    k = tf.shape(self.weights)[-1]
    return GaussianMixture(*(tf.reshape(t, [-1, k]) for t in (self.weights, self.means,
                                                             self.scales)), self.portable)

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

  def edge(self, x):
    """What `split` needs of bin edges x (`coding.bisection`): x itself, or when portable
    per component the tail beyond x away from the mean, negated below the mean ([n, K])."""
    if not self.portable:
      return x
    distance = x[..., None] - self.means
    tail = 0.5 * portable_math.erfc(tf.abs(distance) * self._inverse_scales)
    return tf.where(distance >= 0.0, tail, -tail)  # tails are > 0 (erfc ≤ 9)

  @functools.cached_property
  def _inverse_scales(self):
    """1/(σ√2), once for all of a bisection's edges, correctly rounded. Not `1.0 / x`: in a
    graph Grappler makes that a Reciprocal op, whose CPU kernel approximates (41% of its
    results an ulp off on a Sapphire Rapids), with bits that differ between CPUs."""
    return tf.math.reciprocal_no_nan(self.scales * math.sqrt(2))

  def split(self, lower, middle, upper):
    """The masses of [lower, middle) and [middle, upper) per element, from their `edge`s;
    each component's from its tails on the middle's side of its mean (precise far out)."""
    if not self.portable:
      return self.mass(lower, middle, middle), self.mass(middle, upper, middle)
    # On the middle's side of a mean, each edge's tail beyond it on that side: P(Y ≥ x) above
    # (the edge's own tail if x ≥ μ, else 1 − it), P(Y < x) below; the middle's is its own.
    above = middle > 0.0
    left = tf.where(above & (lower < 0.0), 1.0 + lower, lower) - middle
    right = middle - tf.where(~above & (upper > 0.0), upper - 1.0, upper)
    return tuple(tf.reduce_sum(portable_math.flush(self.weights * tf.maximum(part, 0.0)), -1)
                 for part in (left, right))

  def likelihood(self, values):
    """Mass of the unit bin around each value (the density of the mixture ⊛ U(−½, ½))."""
    return self.mass(values - 0.5, values + 0.5, values)

  def log_prob(self, values):
    """log `likelihood`, floored before the log (a zero mass has no finite gradient)."""
    return tf.math.log(tf.maximum(self.likelihood(values), LIKELIHOOD_BOUND))


class PredictedMixtureCodec(QuantizedLatentCodec):
  """A latent coded under a per-element Gaussian mixture whose parameters come from outside
  (hyper and context); the K = 1 and K > 1 codecs share all but their coding.

  ::

      y ──► ent_quant ──► ŷ_ent ──► −log2 Σ_k w_k P(ŷ_ent | μ_k, σ_k) ──► bits
      │        ▲                              ▲
      │     offset (0, or the mixture mean μ̄)  w, μ, σ ◄── params (entropy parameters)
      └───► dec_quant ──► ŷ_dec ──► synthesis / context model

      coding:  s = round(y − offset + u) ──► `encode` ──► coder items and tables

  `params` have `num_parameters` × C channels. Scales are |·| floored at `scale_min`.
  `center` is where rounding is centred, in training and in coding alike: "integer" (the
  paper's Cheng20 code) or "mean" (the mixture mean μ̄ = Σ w_k μ_k).

  A context model codes y group by group (`encode` / `decode`, `reads` and `tables` for the
  coder); without one, `compress` / `decompress` code all of y as one group.
  """

  CENTERS = ("integer", "mean")

  def __init__(self, ent_quant="noise", dec_quant=None, center="integer", scale_min=0.11,
               **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    if center not in self.CENTERS:
      raise ValueError(f"center must be one of {self.CENTERS}, got {center!r}.")
    self.center = center
    self.scale_min = float(scale_min)

  components = None
  num_parameters = None  # parameter channels per latent channel
  reads = None  # coder reads per element

  def _grouped(self, params, rows):
    """params [..., rows · kinds · C] as [..., kinds, C, rows]."""
    params = tf.cast(params, tf.float32)
    grouped = tf.reshape(params, tf.concat(
        [tf.shape(params)[:-1], [rows, self.num_parameters // rows, self.channels]], 0))
    return tf.experimental.numpy.moveaxis(grouped, -3, -1)

  def mixture(self, params, integer=False):
    """The GaussianMixture of shape [..., C, K] that `params` [..., num_parameters · C]
    describe; `integer`: params from integer entropy parameters (so every operation on them
    must be the same on every machine)."""
    raise NotImplementedError

  def offsets(self, mixture, dither=0.0):
    """Per element, the value symbol 0 stands for: 0 or the mixture mean, minus U-Q's u."""
    center = 0.0 if self.center == "integer" else mixture.mean
    return (center - dither) + tf.zeros_like(mixture.mean)

  def call(self, y, params=None, training=None, step=None):
    mixture = self.mixture(params)
    offset = None if self.center == "integer" else mixture.mean
    y_ent, y_dec = self.quantize_pair(y, offset, training, step)
    return y_dec, {"y": self.rate(mixture, y_ent)}

  def encode(self, y, mixture, dither=0.0, integer=False):
    """For elements y [..., C] under `mixture` [..., C, K]: (ŷ, int32 symbols, and what the
    coder codes, in the order `decode` reads it: int32 items and tables, [reads, n] each)."""
    raise NotImplementedError

  def decode(self, reader, state, mixture, dither=0.0, integer=False):
    """Inverse of `encode` from a coder's `reader` over `tables()`: (state, ŷ of shape
    [..., C], int32 symbols)."""
    raise NotImplementedError

  def tables(self, dither=None):
    """The coder's tables (`dither` moves the offsets, not the tables)."""
    raise NotImplementedError

  def coded(self, y, params, dither, integer):
    """`encode` under the mixture `params` predict: (ŷ, symbols, and the coder's items,
    tables and read sizes, flat)."""
    y_hat, symbols, items, tables = self.encode(y, self.mixture(params, integer), dither,
                                                integer)
    reads = tf.fill([self.reads], tf.size(items) // self.reads)
    return y_hat, symbols, tf.reshape(items, [-1]), tf.reshape(tables, [-1]), reads

  def compress(self, y, params=None, *, coder=coders.DEFAULT, dither=None, integer=False):
    _, symbols, items, tables, reads = self.coded(y, params, 0.0 if dither is None else dither,
                                                  integer)
    string = coders.get(coder).encode(items, tables, self.tables(), reads)
    return [tf.reshape(string, [1])], [symbols]

  def decompress(self, strings, spatial_shape, params=None, *, coder=coders.DEFAULT,
                 dither=None, integer=False, accept_side_info=None):
    del spatial_shape, accept_side_info  # the parameters have y's shape; no side latent
    items = tf.cast(tf.reduce_prod(tf.shape(params)[:3]) * self.channels * self.reads,
                    tf.int64)
    reader = coders.get(coder).reader(strings[0][0], self.tables(), items)
    state, y_hat, symbols = self.decode(reader, reader.initial, self.mixture(params, integer),
                                        0.0 if dither is None else dither, integer)
    return y_hat, [symbols], reader.finish(state)

  def prepare_restore(self, coder_config):
    del coder_config  # the tables are a function of the codec's settings
    self.finalize()

  def coder_config(self):
    return {}

  def get_config(self):
    return dict(super().get_config(), center=self.center, scale_min=self.scale_min)


class GaussianMixtureCodec(PredictedMixtureCodec):
  """K ≥ 2 weighted Gaussians per element (Cheng et al. 2020). A mixture has too many
  parameters to tabulate: every element's CDF is computed from its own parameters at both
  ends, one binary decision per read (`tfquant.coding.bisection`).

  `params`: the paper's layout [logit, mean, scale] × K, each C wide.
  """

  reads = bisection.DEPTH

  def __init__(self, ent_quant="noise", dec_quant=None, components=3, **kwargs):
    super().__init__(ent_quant, dec_quant, **kwargs)
    if int(components) < 2:
      raise ValueError(f"components must be ≥ 2 (one Gaussian: ShiftedGaussianCodec), got "
                       f"{components!r}.")
    self.components = int(components)
    self.num_parameters = 3 * self.components

  def mixture(self, params, integer=False):
    """With `integer`, the mixture is `portable`: its parameters are exact, and so is every
    probability computed from them."""
    logits, means, scales = tf.unstack(self._grouped(params, self.components), axis=-3)
    weights = _portable_softmax(logits) if integer else tf.nn.softmax(logits, axis=-1)
    return GaussianMixture(weights, means, tfc.lower_bound(tf.abs(scales), self.scale_min),
                           portable=integer)

  def encode(self, y, mixture, dither=0.0, integer=False):
    del integer  # the parameters themselves are what integer coding makes exact
    offset = self.offsets(mixture, dither)
    symbols = tf.round(tf.cast(y, tf.float32) - offset)
    bits, tables = bisection.decisions(tf.cast(tf.reshape(symbols, [-1]), tf.int32),
                                       mixture.flatten(), tf.reshape(offset, [-1]))
    return symbols + offset, tf.cast(symbols, tf.int32), bits, tables

  def decode(self, reader, state, mixture, dither=0.0, integer=False):
    del integer
    offset = self.offsets(mixture, dither)
    state, symbols = bisection.decode(reader, state, mixture.flatten(),
                                      tf.reshape(offset, [-1]), tf.size(offset))
    symbols = tf.cast(tf.reshape(symbols, tf.shape(offset)), tf.float32)
    return state, symbols + offset, tf.cast(symbols, tf.int32)

  def tables(self, dither=None):
    return bisection.TABLES

  def finalize(self):
    """Nothing to freeze: bisection computes every element's tables."""

  @property
  def finalized(self):
    return True

  def get_config(self):
    return dict(super().get_config(), components=self.components)
