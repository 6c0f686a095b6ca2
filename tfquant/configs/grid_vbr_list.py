"""Which λ a variable-rate model trains on: grid_vbr's anchor (AUN-Q/AUN-Q, λ drawn
log-uniformly over [0.0008, 0.05]) against the same fine-tune with λ drawn from a list of four,
spaced evenly in log λ over the same range (--lambda_list).

Both are evaluated at grid_vbr's seven rates: the list's four λ are the 1st, 3rd, 5th and 7th
of them, so the curve shows both what the listed rates gain and what the three between them
lose. The log-uniform curve is grid_vbr's anchor cell (its record); this grid trains only the
list's model (~4 minutes on two CPU cores, ~10 to evaluate).
"""
from grid_vbr import GRID as _VBR
from tfquant import evaluate

_LOW, _HIGH = _VBR["lambdas"][0]

GRID = dict(
    _VBR,
    out_dir="runs/grid_vbr_list",
    pairs=[("noise", "noise")],
    train=dict(_VBR["train"], lmbda_list=",".join(
        f"{lmbda:.6g}" for lmbda in evaluate.log_spaced(_LOW, _HIGH, 4))),
    record="docs/results/grid_vbr_list_cells.json",
)
