"""grid_finetune's anchor, U-Q/DS-Q and AUN-Q/STE-Q again with seed 1 (crops and noise): how
far another seed moves the fine-tune figures. Twelve runs, about 80 minutes on two cores.
"""
from grid_finetune import GRID as _FINETUNE

GRID = dict(_FINETUNE, out_dir="runs/grid_finetune_seed1",
            pairs=[("noise", "noise"), ("universal", "dsq"), ("noise", "ste")],
            train=dict(_FINETUNE["train"], seed=1), baselines={})
