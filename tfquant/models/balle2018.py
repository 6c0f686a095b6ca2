"""Ballé, Minnen, Singh, Hwang, Johnston: "Variational Image Compression with a Scale
Hyperprior", ICLR 2018.

Four 5×5 stride-2 GDN layers; the hyper-analysis sees |y|; y is coded under a zero-mean
Gaussian whose scale (64 levels from 0.11 to 256) comes from the hyper-synthesis.
"""

import tensorflow as tf

from tfquant.latent_codecs import FactorizedCodec, GaussianConditionalCodec, HyperpriorCodec
from tfquant.models import layers
from tfquant.models.base import CompressionModel


def hyper_transforms(num_filters, output_filters):
  """Hyper-analysis (3×3/1, 5×5/2, 5×5/2) and its mirror, as in Ballé et al. 2018."""
  n = num_filters
  analysis = layers.sequential("hyper_analysis", [
      layers.down(n, 3, 1, tf.nn.relu),
      layers.down(n, 5, 2, tf.nn.relu),
      layers.down(n, 5, 2, use_bias=False),
  ])
  synthesis = layers.sequential("hyper_synthesis", [
      layers.up(n, 5, 2, tf.nn.relu, kernel_parameter="variable"),
      layers.up(n, 5, 2, tf.nn.relu, kernel_parameter="variable"),
      layers.up(output_filters, 3, 1, kernel_parameter="variable"),
  ])
  return analysis, synthesis


class Balle2018(CompressionModel):
  """::

      x ──► g_a ──► y ──► [HyperpriorCodec: z factorized, y Gaussian(σ)] ──► ŷ_dec ──► g_s ──► x̂
  """

  arch = "balle2018"
  stride = 64
  latent_strides = {"y": 16, "z": 64}
  num_strings = 2

  def __init__(self, num_filters=128, latent_filters=192, ent_quant="noise", dec_quant=None,
               z_ent_quant=None, z_dec_quant=None, center="median", lmbda=0.01,
               distortion="mse"):
    super().__init__(lmbda, distortion, dict(
        num_filters=num_filters, latent_filters=latent_filters, center=center))
    n, m = num_filters, latent_filters
    self.analysis = layers.sequential("analysis", [
        layers.down(n, 5, 2, layers.gdn("gdn_0")),
        layers.down(n, 5, 2, layers.gdn("gdn_1")),
        layers.down(n, 5, 2, layers.gdn("gdn_2")),
        layers.down(m, 5, 2),
    ])
    self.synthesis = layers.sequential("synthesis", [
        layers.up(n, 5, 2, layers.gdn("igdn_0", inverse=True)),
        layers.up(n, 5, 2, layers.gdn("igdn_1", inverse=True)),
        layers.up(n, 5, 2, layers.gdn("igdn_2", inverse=True)),
        layers.up(3, 5, 2),
    ])
    hyper_analysis, hyper_synthesis = hyper_transforms(n, m)
    y_codec = GaussianConditionalCodec(ent_quant, dec_quant, name="y_codec")
    z_codec = FactorizedCodec(ent_quant if z_ent_quant is None else z_ent_quant,
                              dec_quant if z_dec_quant is None else z_dec_quant,
                              center=center, name="z_codec")
    self.entropy = HyperpriorCodec(hyper_analysis, hyper_synthesis, y_codec, z_codec)
    self.build_variables()
