"""grid_vbr's five pairs again with seed 1 (crops, λ draws and noise): how far another seed moves
the variable-rate comparison, whose pairs lie within 1.3% of each other. Five runs; a cell
takes ~4 minutes to train and ~10 to evaluate on two cores, and `bin/compare` resumes from the
committed record.
"""
from grid_vbr import GRID as _VBR

GRID = dict(_VBR, out_dir="runs/grid_vbr_seed1", train=dict(_VBR["train"], seed=1),
            record="docs/results/grid_vbr_seed1_cells.json", baselines={})
