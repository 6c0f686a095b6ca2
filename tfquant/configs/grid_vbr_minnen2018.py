"""One variable-rate Minnen18 (checkerboard) for λ from 0.0025 to 0.02, trained from scratch
with the same steps and settings as each of grid_vbr_minnen2018_fixed's four fixed-λ models
(λ drawn log-uniformly per example), evaluated on Kodak at seven λ spaced evenly in log λ and
set against those four models' curve (report: "Against fixed-rate models").

Run the fixed grid first and keep its report where `fixed_report` reads it:

    bin/compare --config=configs/grid_vbr_minnen2018_fixed.py
    cp runs/grid_vbr_minnen2018_fixed/report.json docs/results/grid_vbr_minnen2018_fixed_report.json
    bin/compare --config=configs/grid_vbr_minnen2018.py
"""
from grid_vbr_minnen2018_fixed import GRID as _FIXED

GRID = dict(
    _FIXED,
    out_dir="runs/grid_vbr_minnen2018",
    lambdas=[(0.0025, 0.02)],
    eval_rates=7,
    record="docs/results/grid_vbr_minnen2018_cells.json",
    fixed_report="docs/results/grid_vbr_minnen2018_fixed_report.json",
)
