"""Composable latent codecs: each owns one latent (its quantizer pair and entropy model) or
composes others; all keep `LatentCodec`'s contract."""

from tfquant.latent_codecs.base import LatentCodec, QuantizedLatentCodec
from tfquant.latent_codecs.checkerboard import CheckerboardCodec
from tfquant.latent_codecs.context import ContextCodec, MaskedConv2D
from tfquant.latent_codecs.factorized import FactorizedCodec
from tfquant.latent_codecs.gaussian_conditional import GaussianConditionalCodec
from tfquant.latent_codecs.gaussian_mixture import (GaussianMixture, GaussianMixtureCodec,
                                                    PredictedMixtureCodec)
from tfquant.latent_codecs.hyperprior import HyperCodec, HyperpriorCodec
from tfquant.latent_codecs.raster_scan import RasterScanCodec
from tfquant.latent_codecs.shifted_gaussian import ShiftedGaussianCodec

__all__ = ["LatentCodec", "QuantizedLatentCodec", "FactorizedCodec", "GaussianConditionalCodec",
           "PredictedMixtureCodec", "ShiftedGaussianCodec", "GaussianMixture",
           "GaussianMixtureCodec", "HyperCodec", "HyperpriorCodec", "ContextCodec",
           "RasterScanCodec", "CheckerboardCodec", "MaskedConv2D"]
