"""Quantized CDF tables, indexed: what both coder back-ends code symbols under.

The layout is tensorflow-compression's, so its range coder takes them as they are: one flat
int32 vector holding, per table, the marker −16 (the precision) and then 2¹⁶·CDF at every
symbol edge (starting at 0, ending at 2¹⁶), the last symbol being the overflow symbol that
escapes values outside the table; `cdf_offset[t]` is the value of table t's first symbol.
"""

import math

import tensorflow as tf

PRECISION = 16


class IndexedTables:
  """Frozen tables plus the views the pure-TF coder needs (int64, built with TF ops so they
  exist in a SavedModel's graph too)."""

  def __init__(self, cdf, cdf_offset):
    self.cdf = tf.convert_to_tensor(cdf, tf.int32)
    self.cdf_offset = tf.convert_to_tensor(cdf_offset, tf.int32)
    values = tf.cast(self.cdf, tf.int64)
    marker = values < 0
    markers = tf.where(marker)[:, 0]
    size = tf.size(values, out_type=tf.int64)
    self.values = values
    self.starts = markers + 1
    self.sizes = tf.concat([markers[1:], [size]], 0) - self.starts  # edges per table
    self.offsets = tf.cast(self.cdf_offset, tf.int64)
    self.frequencies = tf.concat([values[1:] - values[:-1], [0]], 0)  # of the edge's symbol
    table = tf.cumsum(tf.cast(marker, tf.int64)) - 1
    self.is_marker, self.table_of_edge = marker, table
    # Sorted keys table·2¹⁷ + edge (a marker sits just below its table): one search finds the
    # symbol whose range holds a slot in any table.
    self.search_keys = tf.where(marker, tf.bitwise.left_shift(table, 17) - 1,
                                tf.bitwise.left_shift(table, 17) + values)

  def min_bits(self):
    """float64 per table: the fewest bits any symbol coded under it costs, −log2 of its
    largest probability (a coder can only spend more)."""
    # A symbol's edge is followed by another edge of its table (not by the next marker).
    symbol_edge = ~self.is_marker & tf.concat([~self.is_marker[1:], [False]], 0)
    largest = tf.math.unsorted_segment_max(tf.where(symbol_edge, self.frequencies, 1),
                                           self.table_of_edge, tf.size(self.starts))
    return PRECISION - tf.math.log(tf.cast(largest, tf.float64)) / math.log(2.0)

  def cannot_hold(self, string, indexes, slack_bits=64):
    """True when `string` is too short for symbols under the tables at `indexes`, whatever
    the symbols: it holds at most 8 bits a byte (plus `slack_bits` for a coder's final
    state and trailing bytes it leaves out). A decoder can refuse a forged shape or a
    truncated string with it before decoding; valid strings always pass."""
    tables = tf.size(self.starts)
    uses = tf.math.bincount(tf.reshape(indexes, [-1]), minlength=tables, maxlength=tables,
                            dtype=tf.float64)
    needed = tf.reduce_sum(uses * self.min_bits())
    available = 8 * tf.cast(tf.strings.length(tf.reshape(string, [])), tf.float64) + slack_bits
    return needed > available


class BinaryTables:
  """The 2¹⁶ − 1 binary distributions: table r codes 0 with P = (r + 1) / 2¹⁶ and 1 with the
  rest (the decisions of `coding.bisection`)."""

  @property
  def cdf(self):
    """TFC's 2-D table layout: rows [precision, 0, 2¹⁶·P(0), 2¹⁶]."""
    one = 1 << PRECISION
    zero = tf.range(1, one, dtype=tf.int32)
    return tf.stack([tf.fill(tf.shape(zero), PRECISION), tf.zeros_like(zero), zero,
                     tf.fill(tf.shape(zero), one)], axis=1)

  @property
  def cdf_offset(self):
    return tf.zeros([(1 << PRECISION) - 1], tf.int32)

  @staticmethod
  def index(p_zero):
    """The table for float P(0), quantized to 16 bits and kept off 0 and 1."""
    one = float(1 << PRECISION)
    return tf.cast(tf.clip_by_value(tf.round(p_zero * one), 1.0, one - 1.0), tf.int32) - 1


def quantized_tables(pmf, lengths, precision=PRECISION):
  """IndexedTables layout from probabilities, in stock TF ops.

  `pmf` [T, L] holds each table's symbol masses (the first `lengths[t]` count); the overflow
  symbol gets the mass left to 1. Every symbol gets at least one of the 2^precision counts:
  edge_j = ⌊C_j · (2^p − S)⌋ + j for S symbols and cumulative mass C, which only needs C
  non-decreasing (a cumulative sum of non-negative masses is). Returns the flat cdf.
  """
  pmf = tf.cast(pmf, tf.float64)
  lengths = tf.cast(lengths, tf.int32)
  width = tf.shape(pmf)[1]
  used = tf.range(width)[None, :] < lengths[:, None]
  pmf = tf.where(used, tf.maximum(pmf, 0.0), 0.0)
  overflow = tf.maximum(1.0 - tf.reduce_sum(pmf, axis=1, keepdims=True), 0.0)
  # Overflow goes right after each table's own symbols.
  position = tf.range(width + 1)[None, :]
  masses = tf.where(position < lengths[:, None], tf.pad(pmf, [[0, 0], [0, 1]]),
                    tf.where(position == lengths[:, None], overflow, 0.0))
  cumulative = tf.math.cumsum(masses, axis=1)
  cumulative = tf.concat([tf.zeros_like(cumulative[:, :1]), cumulative], 1)
  total = cumulative[:, -1:]
  symbols = tf.cast(lengths[:, None] + 1, tf.float64)
  spare = float(1 << precision) - symbols
  index = tf.cast(tf.range(width + 2)[None, :], tf.float64)
  edges = tf.floor(cumulative / total * spare) + index
  edges = tf.cast(tf.minimum(edges, float(1 << precision)), tf.int32)
  marker = tf.fill([tf.shape(edges)[0], 1], -precision)
  rows = tf.concat([marker, edges], 1)
  keep = tf.range(width + 3)[None, :] < lengths[:, None] + 3  # marker + S + 1 edges
  return tf.boolean_mask(rows, keep)
