"""Convolution helpers shared by the architectures (TFC's SignalConv2D, 'same' zero padding)."""

import tensorflow as tf
import tensorflow_compression as tfc


def down(filters, kernel, stride, activation=None, name=None, use_bias=True):
  """Strided correlation (analysis side)."""
  return tfc.SignalConv2D(filters, (kernel, kernel), corr=True, strides_down=stride,
                          padding="same_zeros", use_bias=use_bias, activation=activation,
                          name=name)


def up(filters, kernel, stride, activation=None, name=None, kernel_parameter="rdft"):
  """Up-sampling convolution (synthesis side)."""
  return tfc.SignalConv2D(filters, (kernel, kernel), corr=False, strides_up=stride,
                          padding="same_zeros", use_bias=True, activation=activation,
                          kernel_parameter=kernel_parameter, name=name)


def gdn(name, inverse=False):
  return tfc.GDN(inverse=inverse, name=name)


def sequential(name, layers):
  return tf.keras.Sequential(layers, name=name)
