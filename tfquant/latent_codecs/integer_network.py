"""Integer entropy parameters: the networks that choose coding tables, computed exactly.

A float network's outputs differ in their last bits between kernels (AVX-512, AVX2, oneDNN
off, a GPU): summation orders differ. When those outputs pick a coding table, one flipped
table index desynchronizes the decoder, so a file written on one machine fails its checksum
on another. Ballé, Minnen & Johnston ("Integer Networks for Data Compression with
Latent-Variable Models", ICLR 2019) run these networks on integers instead. Here:

- **Numbers are block floating point**: a tensor is integer mantissas m, held in float64,
  and one exponent f for the whole tensor; its value is m · 2^−f and |m| ≤ 2^22.
- **Weights** are rounded once per layer to integers k = round(w · 2^e), |k| ≤ 2^14, with
  the largest e for which every output's kernel has ‖k‖₁ ≤ 2^29. They come from the float
  weights alone (no calibration data), so every trained model has its integer twin.
- **A layer** accumulates conv(m, k) + round(b · 2^(f+e)) in float64. Every partial sum is
  an integer below 2^22 · 2^29 + 2^50 < 2^53, so the sum is exact in any summation order,
  on any kernel: float64 convolutions on integers are integer convolutions.
- **Renormalizing**: the accumulator is shifted right (rounded) just enough for its largest
  magnitude to fit 22 bits again; the shift comes from the tensor's exact maximum.
- **Activations**: ReLU is exact; leaky ReLU multiplies negative mantissas by the slope in
  16-bit fixed point.
- **RDFT kernels** (TFC's default parameterization) are computed from their coefficients
  without any FFT library, whose last bits differ between CPUs and GPUs: a closed-form
  inverse-DFT matrix, correctly rounded, then products and sums in a fixed order.

Float32 inputs enter with the exponent that fits their largest magnitude in 22 bits (exact:
a float32 times a power of two, rounded); outputs leave as float32, exactly (22-bit
mantissas). Only elementwise IEEE operations (correctly rounded everywhere) follow them to
the table index, so both ends of a channel compute the same tables.
"""

import decimal
import fractions
import functools
import itertools
import math

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.latent_codecs.portable_math import DECIMAL_PI, power_of_two

MANTISSA_BITS = 22
KERNEL_BITS = 15
KERNEL_L1_BITS = 29  # ≤ 51 − MANTISSA_BITS: the products' part of any partial sum < 2^51
BIAS_BITS = 50  # the bias's part of any partial sum ≤ 2^50
SLOPE_BITS = 16
MAX_EXPONENT = 1000  # 2^−f stays a normal float64

_POWERS = [2.0**k for k in range(54)]  # a constant made at import would start TF's runtime


def bit_length(value):
  """floor(log2(value)) + 1 for an integer-valued float64 0 ≤ value < 2^53 (0 for 0), by exact
  comparisons."""
  return tf.reduce_sum(tf.cast(value >= tf.constant(_POWERS, tf.float64), tf.int32))


def round_shift(mantissas, shift):
  """Mantissas × 2^−shift, rounded half up (shift ≥ 0); exact, as |m| < 2^53."""
  return tf.floor(mantissas * power_of_two(-shift) + 0.5)


class Fixed:
  """Integer mantissas (float64) and one int32 exponent: the value m · 2^−exponent."""

  def __init__(self, mantissas, exponent):
    self.mantissas, self.exponent = mantissas, exponent

  @classmethod
  def from_float(cls, values):
    """The closest block-floating-point tensor to float32 `values` with 22-bit mantissas."""
    values = tf.cast(tf.cast(values, tf.float32), tf.float64)
    largest = tf.math.ceil(tf.reduce_max(tf.abs(values)))
    exponent = tf.minimum(MANTISSA_BITS - bit_length(largest), MAX_EXPONENT // 2)
    return cls(tf.round(values * power_of_two(exponent)), exponent)

  def to_float(self):
    """float32 values (exact: 22-bit mantissas)."""
    return tf.cast(self.mantissas * power_of_two(-self.exponent), tf.float32)

  def normalized(self):
    """Shifted right just enough that every |m| ≤ 2^22."""
    largest = tf.reduce_max(tf.abs(self.mantissas))
    shift = tf.maximum(bit_length(largest) - MANTISSA_BITS, 0)
    return Fixed(round_shift(self.mantissas, shift), self.exponent - shift)

  def at_most(self, exponent):
    """The same values with an exponent ≤ `exponent` (rounded when it shrinks)."""
    shift = tf.maximum(self.exponent - exponent, 0)
    return Fixed(round_shift(self.mantissas, shift), self.exponent - shift)

  def __getitem__(self, key):
    return Fixed(self.mantissas[key], self.exponent)

  @staticmethod
  def concat(parts, axis=-1):
    """Concatenation at the smallest exponent of `parts`."""
    exponent = tf.reduce_min(tf.stack([p.exponent for p in parts]))
    return Fixed(tf.concat([p.at_most(exponent).mantissas for p in parts], axis), exponent)


def _exponent_bound(bound, limit_bits):
  """The largest e with bound · 2^e ≤ 2^limit_bits (bound > 0), exactly (frexp)."""
  mantissa, exponent = math.frexp(bound)  # bound = mantissa · 2^exponent, ½ ≤ mantissa < 1
  return limit_bits - exponent + (1 if mantissa == 0.5 else 0)


def _activation_kind(activation):
  if activation is None or activation is tf.keras.activations.linear:
    return None, None
  if activation in (tf.nn.relu, tf.keras.activations.relu):
    return "relu", None
  if activation is tf.nn.leaky_relu:
    return "leaky_relu", 0.2  # tf.nn.leaky_relu's default slope
  name = getattr(activation, "__name__", activation)
  raise ValueError(f"No integer form for activation {name!r}.")


class IntegerLayer:
  """One convolution (or 1×1 product) with its activation, on `Fixed` tensors.

  `kind`: "conv" (correlation, stride `stride`, zero padding "same"), "up" (TFC's
  up-sampling convolution: the transposed convolution, cropped to stride × the input) or
  "dense" (a product over the last axis; `kernel` [inputs, outputs]).
  """

  def __init__(self, kernel, bias, kind, stride=1, activation=None):
    kernel = np.asarray(kernel, np.float32).astype(np.float64)
    # fsum: exactly rounded, so the exponent cannot depend on a summation order either
    l1 = max(math.fsum(column) for column in np.abs(kernel).reshape(-1, kernel.shape[-1]).T)
    largest = np.abs(kernel).max()
    self.kernel_exponent = min(_exponent_bound(float(largest), KERNEL_BITS) - 1,
                               _exponent_bound(float(l1), KERNEL_L1_BITS) - 1) if largest else 0
    # Rounded, the L1 norm grows by at most ½ per tap: still within the bound with one bit
    # to spare (the −1 above).
    self.kernel = tf.constant(np.round(np.ldexp(kernel, self.kernel_exponent)), tf.float64)
    bias = np.zeros(kernel.shape[-1]) if bias is None else np.asarray(bias, np.float32)
    self.bias = tf.constant(bias.astype(np.float64), tf.float64)
    largest_bias = float(np.abs(bias).max())
    # The bias in the accumulator's units must stay ≤ 2^50: caps the accumulator's exponent.
    self.max_exponent = (_exponent_bound(largest_bias, BIAS_BITS) - 1 if largest_bias
                         else MAX_EXPONENT // 2)
    self.kind, self.stride = kind, int(stride)
    self.activation, slope = _activation_kind(activation)
    self.slope = None if slope is None else float(round(slope * 2**SLOPE_BITS))

  def _linear(self, mantissas, rows):
    if self.kind == "dense":
      kernel = self.kernel if rows is None else self.kernel[rows]
      return tf.tensordot(mantissas, kernel, [[mantissas.shape.rank - 1], [0]])
    half = self.kernel.shape[0] // 2
    if self.kind == "conv":
      padded = tf.pad(mantissas, [[0, 0], [half, half], [half, half], [0, 0]])
      return tf.nn.conv2d(padded, self.kernel, self.stride, "VALID")
    shape = tf.shape(mantissas)
    stride = self.stride
    full = [shape[0], shape[1] * stride + 2 * half, shape[2] * stride + 2 * half,
            self.kernel.shape[-1]]
    outputs = tf.nn.conv2d_transpose(mantissas, tf.transpose(self.kernel, (0, 1, 3, 2)), full,
                                     stride, "VALID")
    return tf.slice(outputs, [0, half, half, 0], [-1, shape[1] * stride, shape[2] * stride, -1])

  def partial(self, inputs, rows=None):
    """The exact accumulator of `inputs` (a `Fixed` with |m| ≤ 2^22) without the bias, not
    normalized; for a "dense" layer whose inputs come in parts, that of the kernel's `rows`
    (a slice). Parts summed by `finish` are what the concatenated inputs would give, but a
    part that does not change (ψ in the serial pass) is computed once."""
    return Fixed(self._linear(inputs.mantissas, rows), inputs.exponent + self.kernel_exponent)

  def finish(self, partials):
    """The layer's output from `partial` accumulators: summed at their smallest exponent
    (capped so that the bias fits 2^50), plus the bias, normalized, activated. Each part is
    below 2^51 and two are below 2^52: still exact."""
    exponent = tf.minimum(tf.reduce_min(tf.stack([p.exponent for p in partials])),
                          self.max_exponent)
    accumulator = tf.add_n([p.at_most(exponent).mantissas for p in partials]) + tf.round(
        self.bias * power_of_two(exponent))
    outputs = Fixed(accumulator, exponent).normalized()
    if self.activation == "relu":
      return Fixed(tf.maximum(outputs.mantissas, 0.0), outputs.exponent)
    if self.activation == "leaky_relu":
      m = outputs.mantissas
      scaled = tf.floor(m * self.slope * 2.0**-SLOPE_BITS + 0.5)
      return Fixed(tf.where(m < 0, scaled, m), outputs.exponent)
    return outputs

  def __call__(self, inputs):
    return self.finish([self.partial(inputs)])


class IntegerNetwork:
  """A stack of `IntegerLayer`s built from the float layers of a Keras stack (TFC's
  SignalConv2D with zero "same" padding and odd kernels; each layer's activation relu,
  leaky ReLU or none), from their current weights."""

  def __init__(self, layers):
    self.layers = [layer if isinstance(layer, IntegerLayer) else integer_layer(layer)
                   for layer in layers]

  def __call__(self, inputs):
    for layer in self.layers:
      inputs = layer(inputs)
    return inputs


def _turn(fraction):
  """(cos, sin) of 2π·`fraction` (a `Fraction`) to 60 digits: Taylor series in decimal
  arithmetic, which every platform computes alike (libm's cosines differ in their last bits)."""
  with decimal.localcontext() as context:
    context.prec = 60
    angle = 2 * DECIMAL_PI * fraction.numerator / fraction.denominator
    sums, term, k = [decimal.Decimal(0), decimal.Decimal(0)], decimal.Decimal(1), 0
    while abs(term) > decimal.Decimal("1e-58"):
      sums[k % 2] += term if k % 4 < 2 else -term
      k += 1
      term = term * angle / k
    return sums


@functools.lru_cache(maxsize=None)
def inverse_rdft_matrix(height, width):
  """float64 [2·height·(width//2+1), height·width]: the linear map from the (real, imaginary)
  coefficients of TFC's `RDFTParameter` to a kernel slice, each entry correctly rounded, so
  the same on every machine.

  TFC's kernel is irfft2d(coefficients) · √(height·width): an inverse complex DFT over the
  rows, then an inverse real DFT over the columns, which reads only the real part of the zero
  and Nyquist columns and counts every other column twice (for its conjugate). So coefficient
  (u, v) adds weight_v · Re(X · e^{iθ}) / √(height·width) to tap (y, x), θ = 2π(uy/height +
  vx/width). No entry can round to a tie: a tie is a dyadic rational, these are irrational
  or not dyadic (such as 1/3).
  """
  columns = width // 2 + 1
  matrix = np.zeros([2, height, columns, height * width])
  with decimal.localcontext() as context:
    context.prec = 60
    norm = decimal.Decimal(height * width).sqrt()
    for u, v, y, x in itertools.product(range(height), range(columns), range(height),
                                        range(width)):
      phase = fractions.Fraction(u * y, height) + fractions.Fraction(v * x, width)
      cos, sin = _turn(phase % 1)
      weight = (1 if v == 0 or 2 * v == width else 2) / norm
      matrix[:, u, v, y * width + x] = float(weight * cos), float(-weight * sin)
  return matrix.reshape(2 * height * columns, height * width)


def portable_rdft_kernel(parameter):
  """The float32 kernel [height, width, inputs, outputs] of an `RDFTParameter`, bit for bit
  the same on every machine: float64 products and sums in one fixed order (elementwise IEEE
  operations, which every platform rounds alike), rounded once to float32."""
  height, width, inputs, outputs = parameter.shape
  with tf.init_scope():
    real, imag = (np.asarray(part.numpy(), np.float64).reshape(inputs * outputs, -1)
                  for part in (parameter.real, parameter.imag))
  coefficients = np.concatenate([real, imag], 1)
  matrix = inverse_rdft_matrix(height, width)
  kernel = np.zeros([inputs * outputs, height * width])
  for row in range(matrix.shape[0]):
    kernel += coefficients[:, row:row + 1] * matrix[row]
  return np.transpose(kernel.astype(np.float32).reshape(inputs, outputs, height, width),
                      (2, 3, 0, 1))


def integer_layer(layer):
  """The `IntegerLayer` of a SignalConv2D; a 1×1 stride-1 correlation becomes a product
  ("dense": float64 products are faster than float64 convolutions)."""
  if not isinstance(layer, tfc.SignalConv2D):
    raise ValueError(f"No integer form for layer {layer.name!r} ({type(layer).__name__}).")
  if layer.padding != "same_zeros" or any(k % 2 == 0 for k in layer.kernel_support):
    raise ValueError(f"No integer form for {layer.name!r}: needs odd kernels, same_zeros.")
  with tf.init_scope():  # read while a coding graph is traced: its constants
    kernel = (portable_rdft_kernel(layer.kernel_parameter)
              if isinstance(layer.kernel_parameter, tfc.RDFTParameter)
              else layer.kernel.numpy())
    bias = layer.bias.numpy() if layer.use_bias else None
  if layer.corr and kernel.shape[:2] == (1, 1) and layer.strides_down[0] == 1:
    return IntegerLayer(kernel.reshape(kernel.shape[2:]), bias, "dense",
                        activation=layer.activation)
  if layer.corr:
    return IntegerLayer(kernel, bias, "conv", layer.strides_down[0], layer.activation)
  return IntegerLayer(kernel, bias, "up", layer.strides_up[0], layer.activation)
