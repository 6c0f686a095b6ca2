"""Ballé, Minnen, Singh, Hwang, Johnston: "Variational Image Compression with a Scale
Hyperprior", ICLR 2018.

Four 5×5 stride-2 GDN layers; the hyper-analysis sees |y|; y is coded under a zero-mean
Gaussian whose scale (64 levels from 0.11 to 256) comes from the hyper-synthesis.
"""

import tensorflow as tf

from tfquant.latent_codecs import FactorizedCodec, GaussianConditionalCodec, HyperpriorCodec
from tfquant.models import layers
from tfquant.models.base import CompressionModel


def hyper_transforms(num_filters, output_filters, synthesis_filters=None,
                     activation=tf.nn.relu):
  """Hyper-analysis (3×3/1, 5×5/2, 5×5/2; N filters) and its mirror, as in Ballé et al. 2018;
  the mirror's two hidden widths are `synthesis_filters` (default N, N)."""
  n = num_filters
  first, second = synthesis_filters or (n, n)
  analysis = layers.sequential("hyper_analysis", [
      layers.down(n, 3, 1, activation),
      layers.down(n, 5, 2, activation),
      layers.down(n, 5, 2, use_bias=False),
  ])
  synthesis = layers.sequential("hyper_synthesis", [
      layers.up(first, 5, 2, activation, kernel_parameter="variable"),
      layers.up(second, 5, 2, activation, kernel_parameter="variable"),
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
  analysis_margin = synthesis_margin = 3

  def __init__(self, num_filters=128, latent_filters=192, ent_quant="noise", dec_quant=None,
               z_ent_quant=None, z_dec_quant=None, center="median", lmbda=0.01,
               distortion="mse", rate_gains=False):
    super().__init__(lmbda, distortion, dict(
        num_filters=num_filters, latent_filters=latent_filters, center=center), rate_gains)
    n, m = num_filters, latent_filters
    self.analysis, self.synthesis = layers.gdn_transforms(n, m)
    hyper_analysis, hyper_synthesis = hyper_transforms(n, m)
    y_codec = GaussianConditionalCodec(ent_quant, dec_quant, name="y_codec")
    z_codec = FactorizedCodec(ent_quant if z_ent_quant is None else z_ent_quant,
                              dec_quant if z_dec_quant is None else z_dec_quant,
                              center=center, name="z_codec")
    self.entropy = HyperpriorCodec(hyper_analysis, hyper_synthesis, y_codec, z_codec,
                                   abs_input=True)
    self.build_variables()
