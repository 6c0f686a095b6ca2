"""SGA-Q and STH-Q judged: grid_finetune_balle2017 with fine-tunes four times as long (2000 steps),
so that each of the two gets a stage of its own long enough to move the model.

In 500 steps with the paper's fractions, SGA-Q anneals in its last 2 steps (its temperature
never leaves 0.5) and STH-Q trains the decoder alone for 20. Here both spend the first 500
steps as in grid_finetune_balle2017, then 1500 in their second stage:

- SGA-Q: the temperature anneals from 0.5 over the last 1500 steps at a rate (6e-4 per step)
  that ends where the paper's schedule ends, 0.5·exp(−0.9) ≈ 0.20 (the paper: 3000 steps at
  3e-4 from step 997k of 1M).
- STH-Q: additive noise for 500 steps, then the decoder alone on rounded latents for 1500
  (the paper: the last 4% of its run, 40k steps).

The anchor and U-Q/DS-Q (the leading pair of the 500-step grid) are trained for the same 2000
steps, so every BD figure compares equal budgets. Training runs in bfloat16 (float32 in the
500-step grid): the anchor carries the same change, so the table compares pairs, not precisions.
"""
from grid_finetune_balle2017 import GRID as _SHORT

_STEPS = 2000
_FIRST_STAGE = 500

GRID = dict(
    _SHORT,
    out_dir="runs/grid_finetune_balle2017_long",
    record="docs/results/grid_finetune_balle2017_long_cells.json",
    pairs=[("noise", "noise"), ("sga", "sga"), ("sth", "sth"), ("universal", "dsq")],
    train=dict(_SHORT["train"], steps=_STEPS, checkpoint_every=500, precision="mixed_bfloat16",
               sga_decay=0.9 / (_STEPS - _FIRST_STAGE),
               sga_decay_start_fraction=_FIRST_STAGE / _STEPS,
               sth_switch_fraction=_FIRST_STAGE / _STEPS),
    baselines={},
)
