"""Minnen18 (mean-scale hyperprior + serial context), not part of Tsubota & Aizawa 2023:
Minnen et al.'s filter counts (N = M = 192 at low rates; --latent_filters=320 at high rates)
on the study's shared training settings.
"""

from paper_training import PAPER_QUANTIZERS, PAPER_TRAINING

CONFIG = dict(
    PAPER_TRAINING,
    arch="minnen2018",
    num_filters=192,
    latent_filters=192,
    context="serial",
    lmbda=0.01,
    quantizer_params={**PAPER_QUANTIZERS, "dsq": {"sharpness_init": 0.1}},
)
