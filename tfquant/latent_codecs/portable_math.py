"""exp and erfc that every machine computes alike, for probabilities both ends of a file use.

TensorFlow's exp and erfc are vectorized approximations whose last bits depend on the
kernel (AVX-512, AVX2, a GPU's library): a mixture's bisection probabilities computed with
them may pick another 16-bit table on another machine, and the file is refused. These use
only +, −, ×, ÷, rounding, table lookups and exact scaling by powers of two, in float32 and
one fixed order: IEEE 754 rounds each of those correctly, so every platform gets the same
bits. (XLA is no way to make them faster: on a CPU it contracts a product and a sum into one
fused multiply-add, another rounding.) Relative error below 2·10⁻⁷.

erfc is a table of quartics, one per 1/64 of [0, ERFC_MAX] (`erfc_segments`): some twenty
operations, where a series with an exp took fifty; a serial context model evaluates it at
every halving of every position, so its operation count is its coding time.

No value is subnormal (some kernels flush those to zero, others keep them): exp's argument
is clamped at −87 (e^−87 ≈ 1.6·10⁻³⁸ is normal), erfc's to [2⁻⁴⁰, 9], where erfc is 1 in
float32 below and ~4·10⁻³⁷, what it is at 9, above; a caller whose products may underflow
`flush`es them.
"""

import decimal
import fractions
import functools
import math

import numpy as np
import tensorflow as tf

TINY = 2.0**-126  # float32's smallest normal
EXP_MIN = -87.0
ERFC_MIN = 2.0**-40  # erfc is 1 in float32 below; products with t stay normal above
ERFC_MAX = 9.0
_LOG2_E = 1.442695
# ln 2 in two parts (Cody & Waite): n · _LN2_HIGH is exact in float32 for |n| < 2^8.
_LN2_HIGH = 0.693145751953125
_LN2_LOW = 1.4286068e-06
# exp(r) for |r| ≤ ln(2)/2 by its Taylor series to r^6 (truncation below 1.2·10⁻⁷); the
# coefficients 1/k! are quotients of exact integers, so correctly rounded everywhere.
_EXP_COEFFICIENTS = tuple(1 / math.factorial(k) for k in range(7))
# erfc on [0, ERFC_MAX] in segments of width 1/64: erfc(z_k + t/64) = erfc(z_k) · P_k(t) for
# t ∈ [0, 1], P_k the quartic through the ratio at t = 0, ¼, ½, ¾, 1 (relative error < 2·10⁻⁷).
ERFC_SEGMENTS_PER_UNIT = 64
_ERFC_SEGMENTS = int(ERFC_MAX) * ERFC_SEGMENTS_PER_UNIT
_ERFC_DEGREE = 4
# π to 62 digits, for the decimal arithmetic that makes constants alike on every platform.
DECIMAL_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494459")


def flush(x):
  """Subnormal float32 values as zero, as some kernels make them and others not."""
  return tf.where(tf.abs(x) < TINY, tf.zeros_like(x), x)


_FLOAT_LAYOUTS = {tf.float32: (tf.int32, 127, 23), tf.float64: (tf.int64, 1023, 52)}


def power_of_two(exponent, dtype=tf.float64):
  """2^exponent (an integer tensor within `dtype`'s normal range) as an exact float: its bits
  written out (exponent field, zero mantissa)."""
  integer, bias, mantissa_bits = _FLOAT_LAYOUTS[dtype]
  return tf.bitcast(tf.bitwise.left_shift(tf.cast(exponent, integer) + bias, mantissa_bits),
                    dtype)


def exp(x):
  """e^x for float32 x (clamped below at EXP_MIN)."""
  x = tf.maximum(tf.cast(x, tf.float32), EXP_MIN)
  n = tf.round(x * _LOG2_E)
  r = (x - n * _LN2_HIGH) - n * _LN2_LOW
  series = tf.zeros_like(r)
  for coefficient in reversed(_EXP_COEFFICIENTS):
    series = coefficient + r * series
  return series * power_of_two(tf.cast(n, tf.int32), tf.float32)


def _decimal_erfc(z):
  """erfc(z) of a `Fraction` 0 ≤ z ≤ ERFC_MAX to ~25 digits, in decimal arithmetic (libm's
  erfc differs between platforms in its last bits): the Maclaurin series of erf below 2, the
  continued fraction erfc z = e^−z² / (√π (z + ½/(z + 1/(z + (3/2)/(z + …))))) above."""
  with decimal.localcontext() as context:
    context.prec = 30
    x = decimal.Decimal(z.numerator) / z.denominator
    if z < 2:
      total, term, n = decimal.Decimal(0), x, 0
      while abs(term) > decimal.Decimal("1e-32"):
        total += term / (2 * n + 1)
        n += 1
        term = -term * x * x / n
      return 1 - 2 * total / DECIMAL_PI.sqrt()
    denominator = x
    for n in range(80, 0, -1):  # 80 terms: below 10⁻¹⁹ relative from z = 2 on
      denominator = x + decimal.Decimal(n) / 2 / denominator
    return (-x * x).exp() / (DECIMAL_PI.sqrt() * denominator)


@functools.lru_cache(maxsize=None)
def erfc_segments():
  """float32 [_ERFC_SEGMENTS, 1 + _ERFC_DEGREE + 1]: per segment k, erfc(k/64) and the
  coefficients of P_k from t⁰ up. Computed in decimal arithmetic from exact nodes (a few
  tenths of a second, once per process), so every platform gets the same bits."""
  nodes = [fractions.Fraction(j, _ERFC_DEGREE) for j in range(_ERFC_DEGREE + 1)]
  # Monomial coefficients from values at the nodes: the inverse Vandermonde matrix, exactly.
  vandermonde = [[node**power for power in range(_ERFC_DEGREE + 1)] for node in nodes]
  width = fractions.Fraction(1, ERFC_SEGMENTS_PER_UNIT)
  values = [_decimal_erfc(width * j / _ERFC_DEGREE)
            for j in range(_ERFC_SEGMENTS * _ERFC_DEGREE + 1)]
  table = np.zeros([_ERFC_SEGMENTS, _ERFC_DEGREE + 2], np.float32)
  with decimal.localcontext() as context:
    context.prec = 30
    inverse = [[decimal.Decimal(entry.numerator) / entry.denominator for entry in row]
               for row in _inverse(vandermonde)]
    for k in range(_ERFC_SEGMENTS):
      start = values[k * _ERFC_DEGREE]
      ratios = [values[k * _ERFC_DEGREE + j] / start for j in range(_ERFC_DEGREE + 1)]
      coefficients = [sum(entry * ratio for entry, ratio in zip(row, ratios))
                      for row in inverse]
      table[k] = [float(start)] + [float(c) for c in coefficients]
  return table


def _inverse(matrix):
  """The inverse of a square matrix of `Fraction`s, by Gauss-Jordan elimination (exact)."""
  size = len(matrix)
  rows = [list(row) + [fractions.Fraction(int(i == j)) for j in range(size)]
          for i, row in enumerate(matrix)]
  for column in range(size):
    pivot = next(r for r in range(column, size) if rows[r][column] != 0)
    rows[column], rows[pivot] = rows[pivot], rows[column]
    rows[column] = [value / rows[column][column] for value in rows[column]]
    for r in range(size):
      if r != column and rows[r][column] != 0:
        rows[r] = [a - rows[r][column] * b for a, b in zip(rows[r], rows[column])]
  return [row[size:] for row in rows]


def erfc(x):
  """The complementary error function of float32 x ≥ 0 (clamped to [ERFC_MIN, ERFC_MAX])."""
  z = tf.clip_by_value(tf.cast(x, tf.float32), ERFC_MIN, ERFC_MAX) * ERFC_SEGMENTS_PER_UNIT
  segment = tf.minimum(tf.floor(z), _ERFC_SEGMENTS - 1)
  t = z - segment  # exact: z is a float32 times a power of two, segment its integer part
  start, *coefficients = tf.unstack(
      tf.gather(erfc_segments(), tf.cast(segment, tf.int32)), axis=-1)
  polynomial = coefficients[-1]
  for coefficient in reversed(coefficients[:-1]):
    polynomial = coefficient + t * polynomial
  return start * polynomial
