"""The smallest grid that exercises everything (used by the tests): minutes on a CPU."""
import os

from tfquant import data

_SAMPLES = data.sample_dir()

GRID = dict(
    out_dir="runs/grid_smoke",
    archs={"balle2018": dict(num_filters=8, latent_filters=12)},
    pairs=[("noise", "noise"), ("universal", "dsq")],
    lambdas=[0.003, 0.01, 0.03],
    train=dict(steps=10, batch_size=2, patch_size=64, lr=1e-3, checkpoint_every=10,
               summary_every=5, train_glob=os.path.join(_SAMPLES, "*.png")),
    eval_images=_SAMPLES,
    baselines={"jpeg": [10, 50, 90]},
)
