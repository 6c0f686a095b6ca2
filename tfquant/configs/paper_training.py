"""Training settings shared by every setting of Tsubota & Aizawa 2023 (imported by the configs):
256×256 crops, batch 8, Adam 1e-4 for 1M steps, MSE on the 0..255 scale; SGA's temperature
min(0.5, 0.5·exp(−3e-4·(step − 997k))); STH switching to hard rounding at 960k; the sigmoid's
temperature stepping up by 1 every 10⁴ steps from 1 (capped at 2000). Arch configs add their
DS-Q setting to `PAPER_QUANTIZERS`. The paper trained in float32 on GPUs; runs this long train
the transforms in bfloat16 where it is native (~2× faster on a CPU with AVX-512 BF16, no visible
quality cost: docs/RESULTS.md, "Training in bfloat16") and in float32 elsewhere (auto);
`--precision=float32` restores the paper's everywhere.
"""
from tfquant import quantizers

PAPER_TRAINING = dict(
    batch_size=8,
    patch_size=256,
    steps=1000000,
    lr=1e-4,
    sga_decay=3e-4,
    sga_decay_start_fraction=0.997,
    sth_switch_fraction=0.96,
    precision="auto",
)

PAPER_QUANTIZERS = {"sigmoid": quantizers.Sigmoid.STUDY_SCHEDULE}
