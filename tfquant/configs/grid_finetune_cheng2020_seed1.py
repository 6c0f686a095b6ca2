"""grid_finetune_cheng2020's anchor, U-Q/DS-Q, AUN-Q/STE-Q and its best pair (STE-Q/STE-Q)
again with seed 1: the seed spread on Cheng20. Sixteen runs, about 2.5 hours on two cores."""
from grid_finetune_cheng2020 import GRID as _FINETUNE

GRID = dict(_FINETUNE, out_dir="runs/grid_finetune_cheng2020_seed1",
            record="docs/results/grid_finetune_cheng2020_seed1_cells.json",
            pairs=[("noise", "noise"), ("universal", "dsq"), ("noise", "ste"), ("ste", "ste")],
            train=dict(_FINETUNE["train"], seed=1), baselines={})
