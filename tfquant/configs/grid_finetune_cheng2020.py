"""grid_finetune on Cheng20: every pair fine-tuned for 500 steps from the model zoo's
AUN-Q/AUN-Q Cheng20 at each λ (N = 64, no attention, K = 3 mixture, checkerboard context;
configs/zoo_cheng2020.py says why), then evaluated on Kodak. The schedules, crops and learning
rate are grid_finetune's (Ballé18), so the three architectures' tables compare; the steps run
in bfloat16, as the common starts were trained. The study's own Cheng20 default, U-Q/STE-Q,
is one of the pairs.

Each cell's evaluation goes into docs/results/grid_finetune_cheng2020_cells.json as it ends;
committed, it lets `tfquant compare --config=grid_finetune_cheng2020` resume on another
machine with only the missing cells to train.
"""
from grid_finetune import GRID as _BALLE2018

GRID = dict(
    _BALLE2018,
    out_dir="runs/grid_finetune_cheng2020",
    record="docs/results/grid_finetune_cheng2020_cells.json",
    archs={"cheng2020": dict(num_filters=64, context="checkerboard",
                             arch_options={"attention": False, "components": 3})},
    lambdas=[0.003, 0.0075, 0.015, 0.03],
    train=dict(_BALLE2018["train"], precision="mixed_bfloat16",
               init_from="zoo:cheng2020-mse-{lmbda:g}"),
)
