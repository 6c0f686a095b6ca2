"""Cheng20 (attention, K=3 Gaussian mixture, serial context) as trained in Tsubota & Aizawa
2023 (Access23/cheng/config.yaml and README).

N = 128 for λ ∈ {0.0016, 0.003, 0.0075}; use --num_filters=192 for λ ∈ {0.015, 0.03, 0.045}.
Adam 1e-4, ×0.1 for the last 80k of 1M steps; SGA's temperature decays from step 990k; DS-Q's
sharpness is fixed at k = 0.1. Rounding is centred on integers, as in their code.
`--context=checkerboard` trains He et al.'s two-pass variant on the same budget.
"""

from paper_training import PAPER_QUANTIZERS, PAPER_TRAINING

CONFIG = dict(
    PAPER_TRAINING,
    arch="cheng2020",
    num_filters=128,
    context="serial",
    lmbda=0.0075,  # paper: 0.0016, 0.003, 0.0075 (N=128); 0.015, 0.03, 0.045 (N=192)
    lr_decay_fraction=0.92,
    sga_decay_start_fraction=0.99,
    quantizer_params={**PAPER_QUANTIZERS, "dsq": {"sharpness_init": 0.1}},
    arch_options={"attention": True, "components": 3, "center": "integer"},
)
