"""exp and erfc that every machine computes alike, for probabilities both ends of a file use.

TensorFlow's exp and erfc are vectorized approximations whose last bits depend on the
kernel (AVX-512, AVX2, a GPU's library): a mixture's bisection probabilities computed with
them may pick another 16-bit table on another machine, and the file is refused. These use
only +, −, ×, ÷, rounding and exact scaling by powers of two, in float32 and one fixed
order: IEEE 754 rounds each of those correctly, so every platform gets the same bits.
Relative error: below 2·10⁻⁵ (erfc's fit is 1.2·10⁻⁷; float32 rounding of −z² adds most,
far out).

No value is subnormal (some kernels flush those to zero, others keep them): exp's argument
is clamped at −87 (e^−87 ≈ 1.6·10⁻³⁸ is normal), erfc's at ±9, beyond which the tail,
~4·10⁻³⁷, counts as what it is at 9; a caller whose products may underflow `flush`es them.
"""

import math

import tensorflow as tf

TINY = 2.0**-126  # float32's smallest normal
EXP_MIN = -87.0
ERFC_MAX = 9.0
_LOG2_E = 1.442695
# ln 2 in two parts (Cody & Waite): n · _LN2_HIGH is exact in float32 for |n| < 2^8.
_LN2_HIGH = 0.693145751953125
_LN2_LOW = 1.4286068e-06
# exp(r) for |r| ≤ ln(2)/2 by its Taylor series to r^6 (truncation below 1.2·10⁻⁷); the
# coefficients 1/k! are quotients of exact integers, so correctly rounded everywhere.
_EXP_COEFFICIENTS = tuple(1 / math.factorial(k) for k in range(7))
# Numerical Recipes' erfcc (Chebyshev fit, fractional error < 1.2·10⁻⁷ for x ≥ 0).
_ERFC_COEFFICIENTS = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                      0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)


def flush(x):
  """Subnormal float32 values as zero, as some kernels make them and others not."""
  return tf.where(tf.abs(x) < TINY, tf.zeros_like(x), x)


def _power_of_two(exponent):
  """2^exponent for int32 −126 ≤ exponent ≤ 127, an exact float32."""
  return tf.bitcast(tf.bitwise.left_shift(exponent + 127, 23), tf.float32)


def exp(x):
  """e^x for float32 x (clamped below at EXP_MIN)."""
  x = tf.maximum(tf.cast(x, tf.float32), EXP_MIN)
  n = tf.round(x * _LOG2_E)
  r = (x - n * _LN2_HIGH) - n * _LN2_LOW
  series = tf.zeros_like(r)
  for coefficient in reversed(_EXP_COEFFICIENTS):
    series = coefficient + r * series
  return series * _power_of_two(tf.cast(n, tf.int32))


def erfc(x):
  """The complementary error function of float32 x."""
  x = tf.cast(x, tf.float32)
  z = tf.minimum(tf.abs(x), ERFC_MAX)
  t = 1.0 / (1.0 + 0.5 * z)
  polynomial = tf.zeros_like(t)
  for coefficient in reversed(_ERFC_COEFFICIENTS):
    polynomial = coefficient + t * polynomial
  upper = t * exp(polynomial - z * z)
  return tf.where(x >= 0.0, upper, 2.0 - upper)
