"""The entropy side that Minnen18 and Cheng20 share: a mean-scale or mixture hyperprior with
an optional spatial context."""

from tfquant.latent_codecs import (CheckerboardCodec, FactorizedCodec, GaussianMixtureCodec,
                                   HyperpriorCodec, RasterScanCodec, ShiftedGaussianCodec)
from tfquant.models import layers

CONTEXT_CODECS = {"serial": RasterScanCodec, "checkerboard": CheckerboardCodec}
CONTEXTS = ("none",) + tuple(CONTEXT_CODECS)


def entropy_codec(hyper_analysis, hyper_synthesis, latent_filters, components, ep_widths,
                  context, ent_quant, dec_quant, z_ent_quant, z_dec_quant, center):
  """y under one Gaussian (`components` = 1) or a mixture, rounding centred on `center`; z
  factorized (median-centred); entropy parameters: 1×1 layers `ep_widths` wide over ψ, or
  over [φ, ψ] with a `context` ("none", "serial" or "checkerboard") 2·M wide."""
  if context not in CONTEXTS:
    raise ValueError(f"context must be one of {CONTEXTS}, got {context!r}.")
  if int(components) < 1:
    raise ValueError(f"components must be ≥ 1, got {components!r}.")
  options = dict(center=center, name="y_codec")
  y_codec = (ShiftedGaussianCodec(ent_quant, dec_quant, **options) if components == 1 else
             GaussianMixtureCodec(ent_quant, dec_quant, components=components, **options))
  z_codec = FactorizedCodec(ent_quant if z_ent_quant is None else z_ent_quant,
                            dec_quant if z_dec_quant is None else z_dec_quant, name="z_codec")
  entropy_parameters = layers.pointwise_stack("entropy_parameters", ep_widths,
                                              y_codec.num_parameters * latent_filters)
  if context == "none":
    return HyperpriorCodec(hyper_analysis, hyper_synthesis, y_codec, z_codec,
                           entropy_parameters=entropy_parameters)
  return CONTEXT_CODECS[context](hyper_analysis, hyper_synthesis, entropy_parameters, y_codec,
                                 z_codec, context_filters=2 * latent_filters)
