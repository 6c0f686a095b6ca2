"""Minnen18 (checkerboard) at four fixed λ, each trained from scratch: the reference that
grid_vbr_minnen2018's one variable-rate model is measured against (issue #31's "within +5% of
its fixed-rate counterpart, at a smaller budget").

What two CPU cores afford: N = 64, M = 96 (the zoo's Ballé18 sizes), He et al.'s checkerboard
context (the serial one decodes position by position), AUN-Q/AUN-Q as the zoo, 2000 steps of
batch 8 × 128² per model, Adam 1e-3 dropped ×0.1 for the last 20%, bfloat16. A cell takes ~5
minutes to train alone and ~1 to evaluate; `bin/compare` resumes from the committed record.
"""
import os

from tfquant import data

_PHOTOS = data.shared_dir("photos") or data.sample_dir()

GRID = dict(
    out_dir="runs/grid_vbr_minnen2018_fixed",
    archs={"minnen2018": dict(num_filters=64, latent_filters=96, context="checkerboard")},
    pairs=[("noise", "noise")],
    lambdas=[0.0025, 0.005, 0.01, 0.02],
    train=dict(steps=2000, batch_size=8, patch_size=128, lr=1e-3, lr_decay_fraction=0.8,
               precision="mixed_bfloat16", checkpoint_every=500, summary_every=100,
               image_summary_every=2000, train_glob=os.path.join(_PHOTOS, "*.png")),
    eval_images=data.shared_dir("kodak"),
    record="docs/results/grid_vbr_minnen2018_fixed_cells.json",
    baselines={},
)
