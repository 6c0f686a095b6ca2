"""Ballé, Laparra, Simoncelli: "End-to-end Optimized Image Compression", ICLR 2017.

GDN auto-encoder with a factorized prior on y. Transforms as in the quantizer study's code:
a 9×9 stride-4 layer then two 5×5 stride-2 layers (and their mirror image).
"""

from tfquant.latent_codecs import FactorizedCodec
from tfquant.models import layers
from tfquant.models.base import CompressionModel


class Balle2017(CompressionModel):
  """::

      x ──► g_a ──► y ──► [FactorizedCodec] ──► ŷ_dec ──► g_s ──► x̂
  """

  arch = "balle2017"
  stride = 16
  latent_strides = {"y": 16}
  analysis_margin = synthesis_margin = 3

  def __init__(self, num_filters=128, latent_filters=None, ent_quant="noise", dec_quant=None,
               center="median", train_center="integer", lmbda=0.01, distortion="mse",
               rate_gains=False):
    latent_filters = num_filters if latent_filters is None else latent_filters
    super().__init__(lmbda, distortion, dict(
        num_filters=num_filters, latent_filters=latent_filters, center=center,
        train_center=train_center), rate_gains)
    n, m = num_filters, latent_filters
    self.analysis = layers.sequential("analysis", [
        layers.down(n, 9, 4, layers.gdn("gdn_0")),
        layers.down(n, 5, 2, layers.gdn("gdn_1")),
        layers.down(m, 5, 2),
    ])
    self.synthesis = layers.sequential("synthesis", [
        layers.up(n, 5, 2, layers.gdn("igdn_0", inverse=True)),
        layers.up(n, 5, 2, layers.gdn("igdn_1", inverse=True)),
        layers.up(3, 9, 4),
    ])
    self.entropy = FactorizedCodec(ent_quant, dec_quant, center=center,
                                   train_center=train_center, name="y_codec")
    self.build_variables()
