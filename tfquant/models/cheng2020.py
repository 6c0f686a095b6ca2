"""Cheng, Sun, Takeuchi, Katto: "Learned Image Compression with Discretized Gaussian Mixture
Likelihoods and Attention Modules", CVPR 2020 — as in the quantizer study's code.

Residual blocks with 3×3 convolutions replace the 5×5 GDN layers; stride-2 blocks keep GDN;
the synthesis up-samples by sub-pixel convolution; simplified attention modules (no
non-local part) sit after the 2nd and 4th analysis stages and before the 1st and 3rd
synthesis stages (`attention=False` drops them: the paper's "anchor"). The latent has N
channels, coded under a K=3 Gaussian mixture from hyper + context; entropy parameters are
two 1×1 layers of 5N (640 at N=128, as the study's code).
"""

import functools

import tensorflow as tf

from tfquant.models import context_hyperprior, layers
from tfquant.models.base import CompressionModel

# PyTorch's default kernel initializer (variance 1/(3·fan_in)), as the reference code: with
# TFC's (1/fan_in) the un-normalized residual stack grows, inverse GDN squares it, the first
# output is ~100× the image's range and training at lr 1e-3 diverges. A config, not an
# instance, so that every layer draws its own values.
TORCH_INIT = dict(class_name="VarianceScaling",
                  config=dict(scale=1 / 3, mode="fan_in", distribution="uniform"))
conv = functools.partial(layers.conv, kernel_initializer=TORCH_INIT)
down = functools.partial(layers.down, kernel_initializer=TORCH_INIT)
up = functools.partial(layers.up, kernel_initializer=TORCH_INIT)


class ResidualBlock(tf.keras.layers.Layer):
  """x + f(x), f = two 3×3 convolutions with leaky ReLU."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.body = layers.sequential("body", [conv(filters, 3, tf.nn.leaky_relu),
                                           conv(filters, 3, tf.nn.leaky_relu)])

  def call(self, x):
    return x + self.body(x)


class BottleneckBlock(tf.keras.layers.Layer):
  """x + f(x), f = 1×1 (N/2), 3×3 (N/2), 1×1 (N) with ReLU (the attention modules' unit)."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.body = layers.sequential("body", [conv(filters // 2, 1, tf.nn.relu),
                                           conv(filters // 2, 3, tf.nn.relu),
                                           conv(filters, 1)])

  def call(self, x):
    return x + self.body(x)


class AttentionBlock(tf.keras.layers.Layer):
  """Simplified attention: x + trunk(x) · sigmoid(mask(x)), three bottleneck blocks each."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.trunk = layers.sequential("trunk", [BottleneckBlock(filters) for _ in range(3)])
    self.mask = layers.sequential("mask", [BottleneckBlock(filters) for _ in range(3)] +
                                  [conv(filters, 1, tf.nn.sigmoid)])

  def call(self, x):
    return x + self.trunk(x) * self.mask(x)


class DownBlock(tf.keras.layers.Layer):
  """Stride-2 residual block: 3×3/2 (leaky ReLU), 3×3, GDN; shortcut 1×1/2."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.body = layers.sequential("body", [down(filters, 3, 2, tf.nn.leaky_relu),
                                           conv(filters, 3, layers.gdn("gdn"))])
    self.shortcut = conv(filters, 1, name="shortcut")

  def call(self, x):
    # A 1×1 stride-2 convolution, written as subsampling then 1×1: TF 2.14's oneDNN kernel
    # for the strided form's gradient corrupts memory on this CPU.
    return self.body(x) + self.shortcut(x[:, ::2, ::2, :])


class SubPixelConv(tf.keras.layers.Layer):
  """Up-sampling by 2: a convolution to 4× the channels, then depth-to-space."""

  def __init__(self, filters, kernel, activation=None, **kwargs):
    super().__init__(**kwargs)
    self.conv = conv(4 * filters, kernel)
    self.activation = activation

  def call(self, x):
    x = tf.nn.depth_to_space(self.conv(x), 2)
    return x if self.activation is None else self.activation(x)


class UpBlock(tf.keras.layers.Layer):
  """Up-sampling residual block: sub-pixel 3×3 (leaky ReLU), 3×3, inverse GDN; shortcut
  sub-pixel 1×1."""

  def __init__(self, filters, **kwargs):
    super().__init__(**kwargs)
    self.body = layers.sequential("body", [
        SubPixelConv(filters, 3, tf.nn.leaky_relu),
        conv(filters, 3, layers.gdn("igdn", inverse=True))])
    self.shortcut = SubPixelConv(filters, 1, name="shortcut")

  def call(self, x):
    return self.body(x) + self.shortcut(x)


class Cheng2020(CompressionModel):
  """::

      x ──► g_a (residual, attention) ──► y ──► [RasterScanCodec / CheckerboardCodec: z
            factorized; y GaussianMixtureCodec (K=3) from hyper + context] ──► ŷ_dec ──► g_s ──► x̂
  """

  arch = "cheng2020"
  stride = 64
  latent_strides = {"y": 16, "z": 64}

  def __init__(self, num_filters=128, attention=True, context="serial", components=3,
               ent_quant="noise", dec_quant=None, z_ent_quant=None, z_dec_quant=None,
               center="integer", lmbda=0.01, distortion="mse",
               rate_gains=False):
    super().__init__(lmbda, distortion, dict(
        num_filters=num_filters, attention=attention, context=context,
        components=components, center=center), rate_gains)
    n = num_filters
    attend = (lambda name: [AttentionBlock(n, name=name)]) if attention else (lambda _: [])
    self.analysis = layers.sequential("analysis", [
        DownBlock(n), ResidualBlock(n),
        DownBlock(n), *attend("attention_0"), ResidualBlock(n),
        DownBlock(n), ResidualBlock(n),
        down(n, 3, 2, use_bias=False), *attend("attention_1"),
    ])
    self.synthesis = layers.sequential("synthesis", [
        *attend("attention_0"), ResidualBlock(n), UpBlock(n),
        ResidualBlock(n), UpBlock(n),
        *attend("attention_1"), ResidualBlock(n), UpBlock(n),
        ResidualBlock(n), SubPixelConv(3, 3),
    ])
    # Counted layer by layer (+1): the analysis' 3×3 convolutions reach 57 pixels, 117 with
    # the attention blocks' three units each (4 and 8 latents); the synthesis' 7 and 11.
    self.analysis_margin, self.synthesis_margin = (9, 12) if attention else (5, 8)
    hyper_analysis = layers.sequential("hyper_analysis", [
        conv(n, 3, tf.nn.leaky_relu),
        conv(n, 3, tf.nn.leaky_relu),
        down(n, 3, 2, tf.nn.leaky_relu),
        conv(n, 3, tf.nn.leaky_relu),
        down(n, 3, 2),
    ])
    hyper_synthesis = layers.sequential("hyper_synthesis", [
        up(n, 3, 1, tf.nn.leaky_relu),
        up(n, 3, 2, tf.nn.leaky_relu),
        up(n * 3 // 2, 3, 1, tf.nn.leaky_relu),
        up(n * 3 // 2, 3, 2, tf.nn.leaky_relu),
        up(2 * n, 3, 1),
    ])
    self.entropy = context_hyperprior.entropy_codec(
        hyper_analysis, hyper_synthesis, n, components, (5 * n, 5 * n), context, ent_quant,
        dec_quant, z_ent_quant, z_dec_quant, center)
    self.build_variables()
