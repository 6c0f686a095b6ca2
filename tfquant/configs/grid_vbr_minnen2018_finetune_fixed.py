"""grid_vbr_minnen2018_fixed's four λ again, each fine-tuned for 1000 steps from one common
start (that grid's λ = 0.005 model, 2000 steps from scratch) at the zoo's fine-tune settings
(Adam 5e-4 dropped ×0.1 for the last 30%): the reference for grid_vbr_minnen2018_finetune's
variable-rate model, trained the same way from the same start. Models from scratch at 2000 steps
are too far from converged for a fixed-rate curve to be smooth; a common start is how the zoo's
fixed and variable-rate families were made.

The start is a run directory, not a record: if it is gone,
`bin/compare --config=configs/grid_vbr_minnen2018_fixed.py --print_jobs` prints its command.
"""
from tfquant import compare

from grid_vbr_minnen2018_fixed import GRID as _SCRATCH

START = compare.Cell(_SCRATCH, "minnen2018", compare.ANCHOR, 0.005).run_dir

GRID = dict(
    _SCRATCH,
    out_dir="runs/grid_vbr_minnen2018_finetune_fixed",
    train=dict(_SCRATCH["train"], steps=1000, lr=5e-4, lr_decay_fraction=0.7, init_from=START),
    record="docs/results/grid_vbr_minnen2018_finetune_fixed_cells.json",
)
