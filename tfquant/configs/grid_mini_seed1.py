"""grid_mini's anchor and U-Q/DS-Q trained again from seed 1 (weights and crops): how far another
seed moves the figures that grid_mini reports. Six runs, about an hour on two cores.
"""
from grid_mini import GRID as _MINI

GRID = dict(_MINI, out_dir="runs/grid_mini_seed1",
            pairs=[("noise", "noise"), ("universal", "dsq")],
            train=dict(_MINI["train"], seed=1), baselines={})
