"""Coding under per-element distributions, by bisection into binary decisions.

Indexed tables are frozen before coding, but a mixture model only knows an element's
distribution when the elements before it are decoded, and has too many parameters to
tabulate. So each integer symbol s ∈ [−2¹⁵, 2¹⁵) is coded as 16 binary decisions (which half
of the current interval holds s), each under P(left half | interval) computed from the
element's distribution and quantized to 16 bits: a row of `tables.BinaryTables`, which every
coder codes. By the chain rule the decisions cost −log2 P(s) plus at most ~2·10⁻⁵ bit per
decision for quantizing the probabilities.

`distribution` is anything with `mass(lower, upper, pivot)`: the probability of [lower,
upper) per element (float32, shape [n]); `pivot` is a point inside, which tells it which tail
to subtract from for precision. Both ends must compute it bit-identically, so callers run
the same operations on the same inputs at the encoder and the decoder.
"""

import tensorflow as tf

from tfquant.coding.tables import BinaryTables

DEPTH = 16
SYMBOL_MIN = -(1 << (DEPTH - 1))
SYMBOL_LIMIT = 1 << (DEPTH - 1)  # exclusive
TABLES = BinaryTables()


def _decision_table(distribution, lower, middle, upper, offset):
  """Table row for P(symbol < middle | lower ≤ symbol < upper), per element."""
  edge = lambda s: tf.cast(s, tf.float32) + offset - 0.5  # symbol s is the bin around s+offset
  pivot = edge(middle)
  left = distribution.mass(edge(lower), pivot, pivot)
  right = distribution.mass(pivot, edge(upper), pivot)
  total = left + right
  # Far in a tail both masses underflow; a fair coin keeps the symbol decodable there.
  p_left = tf.where(total > 0.0, left / tf.where(total > 0.0, total, 1.0), 0.5)
  return TABLES.index(p_left)


def _bisect(distribution, offset, num, decide):
  """Runs the DEPTH halvings; `decide(tables, middle)` returns the bits (1 = upper half)."""
  lower = tf.fill([num], SYMBOL_MIN)
  upper = tf.fill([num], SYMBOL_LIMIT)
  for _ in range(DEPTH):
    middle = (lower + upper) // 2
    tables = _decision_table(distribution, lower, middle, upper, offset)
    upper_half = tf.cast(decide(tables, middle), tf.bool)
    lower = tf.where(upper_half, middle, lower)
    upper = tf.where(upper_half, upper, middle)
  return lower


def decisions(symbols, distribution, offset):
  """The decisions coding int32 `symbols` [n]: (bits, table rows), int32 [DEPTH, n] each,
  in the order `decode` reads them. Symbol s stands for the value s + `offset` (float32
  [n]) under `distribution`."""
  symbols = tf.convert_to_tensor(symbols, tf.int32)
  check = [tf.debugging.assert_greater_equal(symbols, SYMBOL_MIN,
                                             "latent value out of coding range"),
           tf.debugging.assert_less(symbols, SYMBOL_LIMIT, "latent value out of coding range")]
  bits, tables = [], []

  def decide(table, middle):
    bits.append(tf.cast(symbols >= middle, tf.int32))
    tables.append(table)
    return bits[-1]

  with tf.control_dependencies(check):
    _bisect(distribution, offset, tf.size(symbols), decide)
  return tf.stack(bits), tf.stack(tables)


def decode(reader, state, distribution, offset, num):
  """Reads `num` symbols as DEPTH reads of `num` decisions from a coder's `reader` (over
  `TABLES`); returns (state, int32 symbols [num])."""
  carry = [state]

  def decide(tables, middle):
    del middle
    carry[0], bits = reader.read(carry[0], tables)
    return bits

  symbols = _bisect(distribution, offset, num, decide)
  return carry[0], symbols
