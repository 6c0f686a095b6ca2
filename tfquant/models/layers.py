"""Convolution helpers shared by the architectures (TFC's SignalConv2D, 'same' zero padding)."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.latent_codecs import ContextHyperpriorCodec, FactorizedCodec, GaussianMixtureCodec


def down(filters, kernel, stride, activation=None, name=None, use_bias=True,
         kernel_initializer="variance_scaling"):
  """Strided correlation (analysis side)."""
  return tfc.SignalConv2D(filters, (kernel, kernel), corr=True, strides_down=stride,
                          padding="same_zeros", use_bias=use_bias, activation=activation,
                          kernel_initializer=kernel_initializer, name=name)


def up(filters, kernel, stride, activation=None, name=None, kernel_parameter="rdft",
       kernel_initializer="variance_scaling"):
  """Up-sampling convolution (synthesis side)."""
  return tfc.SignalConv2D(filters, (kernel, kernel), corr=False, strides_up=stride,
                          padding="same_zeros", use_bias=True, activation=activation,
                          kernel_parameter=kernel_parameter,
                          kernel_initializer=kernel_initializer, name=name)


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


def context_codec(hyper_analysis, hyper_synthesis, latent_filters, components, ep_widths,
                  context, ent_quant, dec_quant, z_ent_quant, z_dec_quant, center):
  """A ContextHyperpriorCodec: mixture y codec (rounding centred on `center`), factorized z
  codec (median-centred), context 2·M wide, entropy parameters over [context, hyper]."""
  y_codec = GaussianMixtureCodec(ent_quant, dec_quant, components=components, center=center,
                                 name="y_codec")
  z_codec = FactorizedCodec(ent_quant if z_ent_quant is None else z_ent_quant,
                            dec_quant if z_dec_quant is None else z_dec_quant, name="z_codec")
  return ContextHyperpriorCodec(
      hyper_analysis, hyper_synthesis,
      pointwise_stack("entropy_parameters", ep_widths, y_codec.num_parameters * latent_filters),
      y_codec, z_codec, context=context, context_filters=2 * latent_filters)
