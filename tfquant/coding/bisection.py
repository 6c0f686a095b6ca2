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
carried from one halving to the next, so each halving needs one new edge. Both ends must
compute them bit-identically, so callers run the same operations on the same inputs at the
encoder and the decoder.

`look_ahead` halvings are prepared at once: the edges inside the interval at the first (which
hold every middle of the next look_ahead halvings, intervals being powers of two wide), then
the decision table of every interval those halvings may reach; each halving then picks its
row. `edge` and `split` are elementwise, so the bits are the same for every look_ahead; only
the cost moves. With few elements an operation costs the same whatever its size, and looking
2 halvings ahead runs half as many (measured: a serial Cheng20, one position at a time,
decodes 14% faster; 4 ahead gained less); with many, size is the cost, and 1 computes only
the tables that are used. Code traced inside `with few_elements.on():` looks 2 ahead.
"""

import tensorflow as tf

from tfquant import tracing
from tfquant.coding.tables import BinaryTables

DEPTH = 16
SYMBOL_MIN = -(1 << (DEPTH - 1))
SYMBOL_LIMIT = 1 << (DEPTH - 1)  # exclusive
TABLES = BinaryTables()
few_elements = tracing.Switch()


def _decision_table(distribution, lower, middle, upper):
  """Table row for P(symbol < middle | lower ≤ symbol < upper), per element, from edges."""
  left, right = distribution.split(lower, middle, upper)
  total = left + right
  # Far in a tail both masses underflow; a fair coin keeps the symbol decodable there.
  p_left = tf.where(total > 0.0, left / tf.where(total > 0.0, total, 1.0), 0.5)
  return TABLES.index(p_left)


def _bisect(distribution, offset, num, decide, look_ahead):
  """Runs the DEPTH halvings; `decide(tables, middle)` returns the bits (1 = upper half)."""
  look_ahead = look_ahead or (2 if few_elements else 1)
  if DEPTH % look_ahead:
    raise ValueError(f"look_ahead must divide {DEPTH}, got {look_ahead}.")
  # Symbol s is the bin around s + offset; s is [n] or [points, n].
  edge = lambda s: distribution.edge(tf.cast(s, tf.float32) + offset - 0.5)
  lower = tf.fill([num], SYMBOL_MIN)
  upper = tf.fill([num], SYMBOL_LIMIT)
  lower_edge, upper_edge = edge(lower), edge(upper)
  elements = tf.range(num)
  # A group's interval is `points` spacings wide; the intervals its halvings may reach, level
  # by level, as (first, middle, last) point: the i-th of a level is where i's bits lead.
  points = 1 << look_ahead
  intervals = [(first, first + (width >> 1), first + width) for level in range(look_ahead)
               for width in [points >> level] for first in range(0, points, width)]
  # (One interval, as when many elements look 1 ahead: a view, where stacking would copy.)
  stack = lambda picked: picked[0][None] if len(picked) == 1 else tf.stack(picked)
  pick = lambda t, i: tf.gather_nd(t, tf.stack([i, elements], axis=1))  # t[i[e], e] per e
  for depth in range(0, DEPTH, look_ahead):
    spacing = (SYMBOL_LIMIT - SYMBOL_MIN) >> (depth + look_ahead)
    inner = edge(lower + spacing * tf.range(1, points)[:, None])  # [points − 1, n, ...]
    rows = [lower_edge, *tf.unstack(inner, points - 1), upper_edge]
    tables = _decision_table(distribution, *(stack([rows[i] for i in column])
                                              for column in zip(*intervals)))
    reached = tf.zeros([num], tf.int32)  # the interval within its level
    for level in range(look_ahead):
      middle = (lower + upper) // 2
      if level == 0:
        table, middle_edge = tables[0], rows[points // 2]
      else:
        table = pick(tables, (1 << level) - 1 + reached)
        middle_edge = pick(inner, (2 * reached + 1) * (points >> (level + 1)) - 1)
      upper_half = tf.cast(decide(table, middle), tf.bool)
      lower = tf.where(upper_half, middle, lower)
      upper = tf.where(upper_half, upper, middle)
      reached = 2 * reached + tf.cast(upper_half, tf.int32)
      per_edge = tf.reshape(upper_half, tf.concat(
          [[-1], tf.ones_like(tf.shape(middle_edge))[1:]], 0))
      lower_edge = tf.where(per_edge, middle_edge, lower_edge)
      upper_edge = tf.where(per_edge, upper_edge, middle_edge)
  return lower


def decisions(symbols, distribution, offset, look_ahead=None):
  """The decisions coding int32 `symbols` [n]: (bits, table rows), int32 [DEPTH, n] each,
  in the order `decode` reads them. Symbol s stands for the value s + `offset` (float32
  [n]) under `distribution`. `look_ahead`: halvings prepared at once (the same bits whatever
  it is; by default 2 inside `few_elements.on()`, else 1)."""
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
    _bisect(distribution, offset, tf.size(symbols), decide, look_ahead)
  return tf.stack(bits), tf.stack(tables)


def decode(reader, state, distribution, offset, num, look_ahead=None):
  """Reads `num` symbols as DEPTH reads of `num` decisions from a coder's `reader` (over
  `TABLES`); returns (state, int32 symbols [num])."""
  carry = [state]

  def decide(tables, middle):
    del middle
    carry[0], bits = reader.read(carry[0], tables)
    return bits

  symbols = _bisect(distribution, offset, num, decide, look_ahead)
  return carry[0], symbols
