"""Coding under per-element distributions, by bisection into binary decisions.

Indexed tables are frozen before coding, but a mixture model only knows an element's
distribution when the elements before it are decoded, and has too many parameters to
tabulate. So each integer symbol s ∈ [−2¹⁵, 2¹⁵) is coded as 16 binary decisions (which half
of the current interval holds s), each under P(left half | interval) computed from the
element's distribution and quantized to 16 bits: a row of `tables.BinaryTables`, which every
coder codes. By the chain rule the decisions cost −log2 P(s) plus at most ~2·10⁻⁵ bit per
decision for quantizing the probabilities.

`distribution` is anything with `edge(x)`, what it needs to know of a bin edge x (float32
[n], one per element; a tensor [n, ...]), and `split(lower, middle, upper)` of three such:
the masses of [lower, middle) and [middle, upper) per element. An interval's outer edges are
carried from one halving to the next, so each halving evaluates one new edge. Both ends must
compute them bit-identically, so callers run the same operations on the same inputs at the
encoder and the decoder.
"""

import tensorflow as tf

from tfquant.coding.tables import BinaryTables

DEPTH = 16
SYMBOL_MIN = -(1 << (DEPTH - 1))
SYMBOL_LIMIT = 1 << (DEPTH - 1)  # exclusive
TABLES = BinaryTables()


def _decision_table(distribution, lower, middle, upper):
  """Table row for P(symbol < middle | lower ≤ symbol < upper), per element, from edges."""
  left, right = distribution.split(lower, middle, upper)
  total = left + right
  # Far in a tail both masses underflow; a fair coin keeps the symbol decodable there.
  p_left = tf.where(total > 0.0, left / tf.where(total > 0.0, total, 1.0), 0.5)
  return TABLES.index(p_left)


def _bisect(distribution, offset, num, decide):
  """Runs the DEPTH halvings; `decide(tables, middle)` returns the bits (1 = upper half)."""
  # Symbol s is the bin around s + offset.
  edge = lambda s: distribution.edge(tf.cast(s, tf.float32) + offset - 0.5)
  lower = tf.fill([num], SYMBOL_MIN)
  upper = tf.fill([num], SYMBOL_LIMIT)
  lower_edge, upper_edge = edge(lower), edge(upper)
  for _ in range(DEPTH):
    middle = (lower + upper) // 2
    middle_edge = edge(middle)
    tables = _decision_table(distribution, lower_edge, middle_edge, upper_edge)
    upper_half = tf.cast(decide(tables, middle), tf.bool)
    lower = tf.where(upper_half, middle, lower)
    upper = tf.where(upper_half, upper, middle)
    per_edge = tf.reshape(upper_half, tf.concat([[-1], tf.ones_like(tf.shape(middle_edge))[1:]],
                                                0))
    lower_edge = tf.where(per_edge, middle_edge, lower_edge)
    upper_edge = tf.where(per_edge, upper_edge, middle_edge)
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
