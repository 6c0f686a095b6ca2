"""grid_finetune_balle2017's anchor, U-Q/DS-Q and AUN-Q/STE-Q again with seed 1: the seed
spread on Ballé17."""
from grid_finetune_balle2017 import GRID as _FINETUNE

GRID = dict(_FINETUNE, out_dir="runs/grid_finetune_balle2017_seed1",
            record="docs/results/grid_finetune_balle2017_seed1_cells.json",
            pairs=[("noise", "noise"), ("universal", "dsq"), ("noise", "ste")],
            train=dict(_FINETUNE["train"], seed=1), baselines={})
