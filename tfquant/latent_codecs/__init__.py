"""Composable latent codecs: each owns one latent, its quantizer pair, its entropy model."""

from tfquant.latent_codecs.base import LatentCodec
from tfquant.latent_codecs.context import ContextHyperpriorCodec, MaskedConv2D
from tfquant.latent_codecs.factorized import FactorizedCodec
from tfquant.latent_codecs.gaussian_conditional import GaussianConditionalCodec
from tfquant.latent_codecs.gaussian_mixture import GaussianMixture, GaussianMixtureCodec
from tfquant.latent_codecs.hyperprior import HyperpriorCodec

__all__ = ["LatentCodec", "FactorizedCodec", "GaussianConditionalCodec", "HyperpriorCodec",
           "GaussianMixture", "GaussianMixtureCodec", "ContextHyperpriorCodec", "MaskedConv2D"]
