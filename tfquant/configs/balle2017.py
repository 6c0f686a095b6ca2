"""Ballé17 as trained in Tsubota & Aizawa 2023 (their Access23/balle/main.py).

N = M = 128 for λ ∈ {0.001, 0.003, 0.01}; use --num_filters=192 for λ = 0.03.
DS-Q's sharpness k is learnable, clipped to [ln 3, 1000] after each step.
"""
import math

from paper_training import PAPER_QUANTIZERS, PAPER_TRAINING

CONFIG = dict(
    PAPER_TRAINING,
    arch="balle2017",
    num_filters=128,
    lmbda=0.01,  # paper: 0.001, 0.003, 0.01, 0.03
    quantizer_params={**PAPER_QUANTIZERS, "dsq": {"learnable": True, "sharpness_init": math.log(3.0)}},
)
