"""CRC-32 (zlib's: reflected, polynomial 0xEDB88320) of int32 symbols, in stock TensorFlow ops.

A bitstream carries the CRC-32 of the symbols its encoder coded; the decoder recomputes it over
what it decoded. Symbol arrays hold up to millions of values, so the CRC is not computed byte
by byte but as the linear map it is over GF(2): a 4-byte word's CRC is the word times x³² mod P,
and two blocks combine as crc(A ‖ B) = crc(A) · x^(32·|B|) + crc(B). Multiplying by a constant
power of x is linear, so it is four table look-ups per word (one per byte), and each level of a
binary tree over the words halves them. Leading zero words don't change a zero-initialized CRC, so
the words are padded at the front to a power of two; zlib's initial value 0xFFFFFFFF is the
first word complemented, and its final complement is applied at the end.

`crc32_int32(v)` equals `zlib.crc32(np.asarray(v, "<i4").tobytes())` (tests check it).
"""

import numpy as np
import tensorflow as tf

_POLY = 0xEDB88320
_MAX_LEVELS = 31  # up to 2^31 words


def _times_x(a):
  """a · x mod P, reflected representation."""
  return (a >> 1) ^ (_POLY if a & 1 else 0)


def _multiply(a, b):
  """a · b mod P, reflected (bit 31 is x⁰)."""
  product = 0
  for bit in range(32):
    if a & (1 << (31 - bit)):
      product ^= b
    b = _times_x(b)
  return product


def _power_of_x(exponent):
  value = 1 << 31
  for _ in range(exponent):
    value = _times_x(value)
  return value


def _byte_tables(constant):
  """int64 [4, 256]: entry [k, b] is (b in byte k of a word) · constant; a word's product is
  the XOR of its four bytes' entries (multiplication is linear over GF(2))."""
  return np.array([[_multiply(b << (8 * k), constant) for b in range(256)] for k in range(4)],
                  np.int64)


def _level_tables(unit_bits):
  """[levels + 1, 4, 256]: level l multiplies by x^(unit_bits·2^l), the shift past a block of
  2^l units; the last entry multiplies by x³², a single unit's CRC."""
  tables, power = [], _power_of_x(unit_bits)
  for _ in range(_MAX_LEVELS):
    tables.append(_byte_tables(power))
    power = _multiply(power, power)
  return np.stack(tables + [_byte_tables(_power_of_x(32))])


_TABLES = {8: _level_tables(8), 32: _level_tables(32)}


def _multiply_by(words, tables):
  """Products of int64 words < 2^32 with the constant that `tables` [4, 256] stand for."""
  product = tf.zeros_like(words)
  for k in range(4):
    byte = tf.bitwise.bitwise_and(tf.bitwise.right_shift(words, 8 * k), 255)
    product = tf.bitwise.bitwise_xor(product, tf.gather(tables[k], byte))
  return product


def crc32_int32(values):
  """zlib CRC-32 of `values` (any shape, int32, read in C order as little-endian bytes), as an
  int64 scalar in [0, 2^32). Empty input gives 0, as zlib does."""
  return _crc32(tf.reshape(tf.cast(values, tf.int64), [-1]) % (1 << 32), 32)


def crc32_bytes(octets):
  """zlib CRC-32 of a uint8 vector of at least 4 bytes, as an int64 scalar."""
  return _crc32(tf.cast(octets, tf.int64), 8)


def _crc32(units, unit_bits):
  """CRC-32 of a vector of `unit_bits`-bit units (int64); zlib's initial value complements
  the first 32 bits, i.e. the first unit of 32 bits or the first four of 8."""
  count = tf.size(units, out_type=tf.int64)
  flip = tf.fill([32 // unit_bits], tf.constant((1 << unit_bits) - 1, tf.int64))
  head = tf.minimum(count, 32 // unit_bits)
  units = tf.concat([tf.bitwise.bitwise_xor(units[:head], flip[:head]), units[head:]], 0)
  levels = tf.cast(tf.math.ceil(tf.math.log(tf.cast(tf.maximum(count, 1), tf.float64)) /
                                np.log(2.0) - 1e-9), tf.int32)
  padding = tf.bitwise.left_shift(1, levels) - tf.cast(count, tf.int32)
  tables = tf.constant(_TABLES[unit_bits])
  # A unit u of unit_bits bits, followed by nothing: its CRC is u · x^32 (u's top bit first).
  leaves = tf.bitwise.left_shift(tf.concat([tf.zeros([padding], tf.int64), units], 0),
                                 32 - unit_bits)
  crcs = _multiply_by(leaves, tables[-1])

  def combine(level, crcs):
    pairs = tf.reshape(crcs, [-1, 2])
    return level + 1, tf.bitwise.bitwise_xor(_multiply_by(pairs[:, 0], tables[level]),
                                             pairs[:, 1])

  _, crcs = tf.while_loop(lambda level, _: level < levels, combine, (0, crcs),
                          shape_invariants=(tf.TensorShape([]), tf.TensorShape([None])))
  return tf.where(count > 0, tf.bitwise.bitwise_xor(crcs[0], 0xFFFFFFFF),
                  tf.constant(0, tf.int64))
