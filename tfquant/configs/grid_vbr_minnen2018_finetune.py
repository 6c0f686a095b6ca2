"""grid_vbr_minnen2018's variable-rate Minnen18 fine-tuned from the common start of
grid_vbr_minnen2018_finetune_fixed, with the same steps and settings as each of its four
fixed-λ models, and set against them.

    bin/compare --config=configs/grid_vbr_minnen2018_finetune_fixed.py
    cp runs/grid_vbr_minnen2018_finetune_fixed/report.json \\
       docs/results/grid_vbr_minnen2018_finetune_fixed_report.json
    bin/compare --config=configs/grid_vbr_minnen2018_finetune.py
"""
from grid_vbr_minnen2018 import GRID as _SCRATCH
from grid_vbr_minnen2018_finetune_fixed import GRID as _FIXED

GRID = dict(
    _FIXED,
    out_dir="runs/grid_vbr_minnen2018_finetune",
    lambdas=_SCRATCH["lambdas"],
    eval_rates=_SCRATCH["eval_rates"],
    record="docs/results/grid_vbr_minnen2018_finetune_cells.json",
    fixed_report="docs/results/grid_vbr_minnen2018_finetune_fixed_report.json",
)
