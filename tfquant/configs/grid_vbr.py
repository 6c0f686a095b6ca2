"""The comparison under variable rate: five pairs (the AUN-Q anchor too) fine-tuned for the same
500 steps from the zoo's variable-rate Ballé18 (balle2018-vr-mse: AUN-Q/AUN-Q, N=64, M=96,
λ drawn log-uniformly per example over its range), each one model for the whole range,
evaluated on Kodak at seven λ spaced evenly in log λ.

The steps, batch and learning rate are grid_finetune's, whose fixed-rate cells of the same
pairs (four λ, one model each, from the fixed zoo entries) are the reference each pair's
variable-rate curve is measured against (report: "Against fixed-rate models"). On two CPU
cores a cell takes ~4 minutes to train and ~10 to evaluate; `bin/compare` resumes.
"""
import os

from tfquant import data, zoo

_PHOTOS = data.shared_dir("photos") or data.sample_dir()
_START = zoo.card("balle2018-vr-mse")["config"]

GRID = dict(
    out_dir="runs/grid_vbr",
    archs={"balle2018": dict(num_filters=64, latent_filters=96)},
    pairs=[("noise", "noise"), ("universal", "dsq"), ("noise", "ste"), ("ste", "ste"),
           ("universal", "universal")],
    lambdas=[(_START["lmbda"], _START["lmbda_max"])],
    eval_rates=7,
    train=dict(steps=500, batch_size=8, patch_size=128, lr=1e-4, checkpoint_every=250,
               summary_every=50, image_summary_every=500, init_from="zoo:balle2018-vr-mse",
               train_glob=os.path.join(_PHOTOS, "*.png")),
    eval_images=data.shared_dir("kodak"),
    record="docs/results/grid_vbr_cells.json",
    fixed_report="docs/results/grid_finetune_report.json",
    baselines={"webp": [10, 30, 50, 70, 90]},
)
