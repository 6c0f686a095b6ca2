"""Convolution helpers shared by the architectures (TFC's SignalConv2D, 'same' zero padding)."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant import tracing
from tfquant.latent_codecs.integer_network import inverse_rdft_matrix


def rdft_kernel(parameter):
  """The kernel of TFC's `RDFTParameter` as one matrix product, in float32.

  TFC computes it with an inverse FFT per kernel slice, and its gradient with an FFT per
  slice: 16,384 five-by-five FFTs each way for a 128→128 layer, half a second of a Ballé18
  training step on two cores. The same linear map as a matrix product costs milliseconds.
  Its values agree with TFC's to float32 rounding, not bit for bit, so only training uses it.
  """
  height, width, inputs, outputs = parameter.shape
  coefficients = tf.concat([tf.reshape(parameter.real, [inputs * outputs, -1]),
                            tf.reshape(parameter.imag, [inputs * outputs, -1])], 1)
  kernel = tf.matmul(coefficients, tf.constant(inverse_rdft_matrix(height, width), tf.float32))
  return tf.transpose(tf.reshape(kernel, [inputs, outputs, height, width]), (2, 3, 0, 1))


# While a graph is traced under `constant_kernels.on()`, RDFT kernels enter it as constants
# computed once (by TFC's own inverse FFT, so the values are the same), not recomputed from
# their coefficients at every run: the inverse FFTs were 45% of an image's encode and 30% of
# its decode. For graphs that run on fixed weights only (a finalized model's coding).
constant_kernels = tracing.Switch()


class SignalConv2D(tfc.SignalConv2D):
  """TFC's SignalConv2D ('same_zeros', odd kernels), with ops that reach oneDNN's kernels in
  training and in bfloat16.

  TFC pads inside the convolution ops (EXPLICIT padding), for which oneDNN has no kernel in
  three places: both gradients in float32, and the transposed convolution — the up layers'
  forward pass and every layer's input gradient — in bfloat16, where TensorFlow's Eigen
  fallback is 20–60× slower than float32. So in training, and in any precision below
  float32, the layer pads first and convolves VALID, crops with a slice (whose gradient is a
  pad), and computes an RDFT kernel as a matrix product (`rdft_kernel`); every op then runs
  on oneDNN. The two paths agree to float32 rounding. Outside training in float32 — coding —
  the ops are TFC's own, so every existing model codes and decodes exactly as before.
  """

  def call(self, inputs, training=None):  # pylint: disable=arguments-differ
    if training is not True and self.compute_dtype == "float32":
      return super().call(inputs)
    if isinstance(self.kernel_parameter, tfc.RDFTParameter):
      kernel = tf.cast(rdft_kernel(self.kernel_parameter), self.compute_dtype)
    else:
      kernel = self.kernel
    half = self.kernel_support[0] // 2
    if self.corr:  # out[j] = Σ_m x[s·j + m − half] k[m]
      padded = tf.pad(inputs, [[0, 0], [half, half], [half, half], [0, 0]])
      outputs = tf.nn.conv2d(padded, kernel, self.strides_down, "VALID")
    else:  # out[j] = Σ_i x[i] k[j + half − s·i]: the full transposed convolution, cropped
      stride = self.strides_up[0]
      shape = tf.shape(inputs)
      full = [shape[0], shape[1] * stride + 2 * half, shape[2] * stride + 2 * half,
              self.filters]
      outputs = tf.nn.conv2d_transpose(inputs, tf.transpose(kernel, (0, 1, 3, 2)), full,
                                       stride, "VALID")
      outputs = tf.slice(outputs, [0, half, half, 0],
                         [-1, shape[1] * stride, shape[2] * stride, -1])
    if self.use_bias:
      outputs = tf.nn.bias_add(outputs, self.bias)
    return outputs if self.activation is None else self.activation(outputs)

  @property
  def kernel(self):
    if constant_kernels and isinstance(self.kernel_parameter,
                                                          tfc.RDFTParameter):
      with tf.init_scope():  # computed eagerly, captured by the graph being traced
        return super().kernel
    return super().kernel


def down(filters, kernel, stride, activation=None, name=None, use_bias=True,
         kernel_initializer="variance_scaling"):
  """Strided correlation (analysis side)."""
  return SignalConv2D(filters, (kernel, kernel), corr=True, strides_down=stride,
                      padding="same_zeros", use_bias=use_bias, activation=activation,
                      kernel_initializer=kernel_initializer, name=name)


def up(filters, kernel, stride, activation=None, name=None, kernel_parameter="rdft",
       kernel_initializer="variance_scaling"):
  """Up-sampling convolution (synthesis side)."""
  return SignalConv2D(filters, (kernel, kernel), corr=False, strides_up=stride,
                      padding="same_zeros", use_bias=True, activation=activation,
                      kernel_parameter=kernel_parameter, kernel_initializer=kernel_initializer,
                      name=name)


class GDN(tfc.GDN):
  """TFC's GDN with its fixed α and ε read as Python numbers: its `call` branches on them,
  which in a graph traced without AutoGraph (see `train.make_train_step`) needs them known."""

  @property
  def alpha(self):
    return super().alpha if callable(self.alpha_parameter) else float(self.alpha_parameter)

  @property
  def epsilon(self):
    return (super().epsilon if callable(self.epsilon_parameter)
            else float(self.epsilon_parameter))


def gdn(name, inverse=False):
  return GDN(inverse=inverse, name=name)


class Sequential(tf.keras.Sequential):
  """Keras's Sequential, tracked the same way (checkpoints and saved models read as before),
  minus its functional-graph inference: on every new input shape Keras runs all the layers
  once more on symbolic inputs, a quarter of a model's tracing time here. Each layer builds
  on its first call instead."""

  def build(self, input_shape=None):
    self.built = True

  def call(self, inputs):  # pylint: disable=arguments-differ
    for layer in self.layers:
      inputs = layer(inputs)
    return inputs


def sequential(name, layers):
  return Sequential(layers, name=name)


def gdn_transforms(num_filters, latent_filters):
  """Four 5×5 stride-2 layers with GDN (Ballé et al. 2018, Minnen et al. 2018), and their
  mirror image: (analysis, synthesis)."""
  n, m = num_filters, latent_filters
  analysis = sequential("analysis", [down(n, 5, 2, gdn(f"gdn_{i}")) for i in range(3)] +
                        [down(m, 5, 2)])
  synthesis = sequential("synthesis", [up(n, 5, 2, gdn(f"igdn_{i}", inverse=True))
                                       for i in range(3)] + [up(3, 5, 2)])
  return analysis, synthesis


def conv(filters, kernel, activation=None, name=None, use_bias=True,
         kernel_initializer="variance_scaling"):
  """Stride-1 correlation."""
  return down(filters, kernel, 1, activation, name, use_bias, kernel_initializer)


def pointwise_stack(name, widths, outputs):
  """1×1 convolutions with leaky ReLU between them (entropy-parameter networks)."""
  return sequential(name, [conv(w, 1, tf.nn.leaky_relu) for w in widths] + [conv(outputs, 1)])
