"""grid_finetune on Ballé17: every pair fine-tuned for 500 steps from the model zoo's
AUN-Q/AUN-Q Ballé17 at each λ (N = M = 128, the study's λ set; configs/zoo_balle2017.py), then
evaluated on Kodak. The schedules, crops and learning rate are grid_finetune's (Ballé18), so
the two architectures' tables compare.

Each cell's evaluation goes into docs/results/grid_finetune_balle2017_cells.json as it ends;
committed, it lets `tfquant compare --config=grid_finetune_balle2017` resume on another
machine with only the missing cells to train.
"""
from grid_finetune import GRID as _BALLE2018

GRID = dict(
    _BALLE2018,
    out_dir="runs/grid_finetune_balle2017",
    record="docs/results/grid_finetune_balle2017_cells.json",
    archs={"balle2017": dict(num_filters=128)},
    lambdas=[0.001, 0.003, 0.01, 0.03],
    train=dict(_BALLE2018["train"], init_from="zoo:balle2017-mse-{lmbda:g}"),
)
