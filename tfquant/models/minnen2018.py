"""Minnen, Ballé, Toderici: "Joint Autoregressive and Hierarchical Priors for Learned Image
Compression", NeurIPS 2018.

Ballé18's GDN transforms (N filters, M latent channels); the hyperprior sees y itself and
predicts a mean and a scale per element; a 5×5 masked convolution over ŷ adds the spatial
context; 1×1 entropy-parameter layers (10M/3, 8M/3) fuse both. `context="none"` is the
paper's mean-scale hyperprior baseline (with the fusing layers), "checkerboard" He et al.'s
two-pass context.
"""

import tensorflow as tf

from tfquant.models import context_hyperprior, layers
from tfquant.models.balle2018 import hyper_transforms
from tfquant.models.base import CompressionModel


class Minnen2018(CompressionModel):
  """::

      x ──► g_a ──► y ──► [RasterScanCodec / CheckerboardCodec / HyperpriorCodec: z
                           factorized; y ShiftedGaussianCodec(μ, σ) from hyper (+ context)]
                                          ──► ŷ_dec ──► g_s ──► x̂
  """

  arch = "minnen2018"
  stride = 64
  latent_strides = {"y": 16, "z": 64}
  analysis_margin = synthesis_margin = 3

  def __init__(self, num_filters=192, latent_filters=192, context="serial", components=1,
               ent_quant="noise", dec_quant=None, z_ent_quant=None, z_dec_quant=None,
               center="integer", lmbda=0.01, distortion="mse",
               rate_gains=False):
    super().__init__(lmbda, distortion, dict(
        num_filters=num_filters, latent_filters=latent_filters, context=context,
        components=components, center=center), rate_gains)
    n, m = num_filters, latent_filters
    self.analysis, self.synthesis = layers.gdn_transforms(n, m)
    hyper_analysis, hyper_synthesis = hyper_transforms(n, 2 * m, (m, m * 3 // 2),
                                                       tf.nn.leaky_relu)
    self.entropy = context_hyperprior.entropy_codec(
        hyper_analysis, hyper_synthesis, m, components, (m * 10 // 3, m * 8 // 3), context,
        ent_quant, dec_quant, z_ent_quant, z_dec_quant, center)
    self.build_variables()
