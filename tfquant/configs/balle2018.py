"""Ballé18 (scale hyperprior) as trained in Tsubota & Aizawa 2023 (Access23/balle/main_hp.py).

Their code uses N = M = 128 for λ ∈ {0.001, 0.003, 0.01} and 192 for λ = 0.03; DS-Q's
sharpness is fixed at k = 0.1.
"""

from paper_training import PAPER_QUANTIZERS, PAPER_TRAINING

CONFIG = dict(
    PAPER_TRAINING,
    arch="balle2018",
    num_filters=128,
    latent_filters=128,
    lmbda=0.01,  # paper: 0.001, 0.003, 0.01, 0.03
    quantizer_params={**PAPER_QUANTIZERS, "dsq": {"sharpness_init": 0.1}},
)
