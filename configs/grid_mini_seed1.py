"""grid_mini's anchor, U-Q/U-Q and U-Q/DS-Q trained again from seed 1 (weights and crops): how
far another seed moves the BD-rates that grid_mini reports. Nine runs, about 1.5 CPU-hours.
"""
from grid_mini import GRID as _MINI

GRID = dict(_MINI, out_dir="runs/grid_mini_seed1",
            pairs=[("noise", "noise"), ("universal", "universal"), ("universal", "dsq")],
            train=dict(_MINI["train"], seed=1), baselines={})
