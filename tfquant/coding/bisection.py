"""Range coding under per-element distributions, by bisection into binary decisions.

TFC's range coder binds its CDF tables when a coder is created, but an autoregressive or
mixture model only knows an element's distribution once the elements before it are decoded.
So each integer symbol s ∈ [−2¹⁵, 2¹⁵) is coded as 16 binary decisions (which half of the
current interval holds s), each under P(left half | interval) computed from the element's
distribution and quantized to 16 bits; the coder's table is the fixed set of all 2¹⁶ − 1
binary distributions. By the chain rule the decisions cost −log2 P(s) plus at most
~2·10⁻⁵ bit per decision for quantizing the probabilities.

`distribution` is anything with `mass(lower, upper, pivot)`: the probability of [lower,
upper) per element (float32, shape [n]); `pivot` is a point inside, which tells it which tail
to subtract from for precision. Both ends must compute it bit-identically, so callers run
the same operations on the same inputs at the encoder and the decoder.
"""

import tensorflow as tf
import tensorflow_compression as tfc

PRECISION = 16
DEPTH = 16
SYMBOL_MIN = -(1 << (DEPTH - 1))
SYMBOL_LIMIT = 1 << (DEPTH - 1)  # exclusive


def binary_tables():
  """int32 [2^16 − 1, 4]: row r is the CDF of a binary symbol with P(0) = (r + 1) / 2^16."""
  one = 1 << PRECISION
  left = tf.range(1, one, dtype=tf.int32)
  return tf.stack([tf.fill(tf.shape(left), PRECISION), tf.zeros_like(left), left,
                   tf.fill(tf.shape(left), one)], axis=1)


def create_encoder():
  return tfc.create_range_encoder([], binary_tables())


def create_decoder(string):
  return tfc.create_range_decoder(string, binary_tables())


def _decision_table_index(distribution, lower, middle, upper, offset):
  """Table row for P(symbol < middle | lower ≤ symbol < upper), per element."""
  edge = lambda s: tf.cast(s, tf.float32) + offset - 0.5  # symbol s is the bin around s+offset
  pivot = edge(middle)
  left = distribution.mass(edge(lower), pivot, pivot)
  right = distribution.mass(pivot, edge(upper), pivot)
  total = left + right
  # Far in a tail both masses underflow; a fair coin keeps the symbol decodable there.
  p_left = tf.where(total > 0.0, left / tf.where(total > 0.0, total, 1.0), 0.5)
  one = float(1 << PRECISION)
  frequency = tf.clip_by_value(tf.round(p_left * one), 1.0, one - 1.0)
  return tf.cast(frequency, tf.int32) - 1


def _bisect(distribution, offset, num, decide):
  """Runs the DEPTH halvings; `decide(index, middle)` returns the bits (1 = upper half)."""
  lower = tf.fill([num], SYMBOL_MIN)
  upper = tf.fill([num], SYMBOL_LIMIT)
  for _ in range(DEPTH):
    middle = (lower + upper) // 2
    index = _decision_table_index(distribution, lower, middle, upper, offset)
    upper_half = tf.cast(decide(index, middle), tf.bool)
    lower = tf.where(upper_half, middle, lower)
    upper = tf.where(upper_half, upper, middle)
  return lower


def encode(handle, symbols, distribution, offset):
  """Appends int32 `symbols` [n] to the coder `handle`; returns the new handle.

  Symbol s stands for the value s + `offset` (float32 [n]) under `distribution`.
  """
  symbols = tf.convert_to_tensor(symbols, tf.int32)
  tf.debugging.assert_greater_equal(symbols, SYMBOL_MIN, "latent value out of coding range")
  tf.debugging.assert_less(symbols, SYMBOL_LIMIT, "latent value out of coding range")
  state = [handle]

  def decide(index, middle):
    bits = tf.cast(symbols >= middle, tf.int32)
    state[0] = tfc.entropy_encode_index(state[0], index, bits)
    return bits

  _bisect(distribution, offset, tf.size(symbols), decide)
  return state[0]


def decode(handle, distribution, offset, num):
  """Reads `num` symbols coded by `encode`; returns (new handle, int32 symbols [num])."""
  state = [handle]

  def decide(index, middle):
    del middle
    state[0], bits = tfc.entropy_decode_index(state[0], index, tf.shape(index),
                                              tf.int32)
    return bits

  symbols = _bisect(distribution, offset, num, decide)
  return state[0], symbols


def finalize_encoder(handle):
  return tfc.entropy_encode_finalize(handle)


def finalize_decoder(handle):
  """True unless the decoder saw a corrupt or truncated stream (a weak check, as TFC's)."""
  return tfc.entropy_decode_finalize(handle)
