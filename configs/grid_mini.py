"""The paper's comparison in miniature, for CPUs: balle2018 at N=64, M=96, 128×128 patches,
batch 8, three lambdas, the paper's pairs, a few thousand steps each (a few CPU-hours in all;
`bin/compare` resumes, so it can be finished over several sessions). Trains on
../shared/data/photos and evaluates on ../shared/data/kodak where present.
"""
import os

from tfquant import data

_PHOTOS = data.shared_dir("photos") or data.sample_dir()
_STEPS = 3000

GRID = dict(
    out_dir="runs/grid_mini",
    archs={"balle2018": dict(num_filters=64, latent_filters=96)},
    arch_configs={"balle2018": os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "balle2018.py")},
    pairs=[("noise", "noise"), ("ste", "ste"), ("universal", "universal"), ("sga", "sga"),
           ("dsq", "dsq"), ("sth", "sth"), ("noise", "ste"), ("noise", "universal"),
           ("noise", "dsq"), ("universal", "ste"), ("universal", "dsq")],
    lambdas=[0.003, 0.01, 0.03],
    train=dict(steps=_STEPS, batch_size=8, patch_size=128, lr=1e-4, checkpoint_every=500,
               summary_every=100, image_summary_every=1000,
               train_glob=os.path.join(_PHOTOS, "*.png")),
    eval_images=data.shared_dir("kodak"),
    baselines={"jpeg": [10, 20, 30, 50, 70, 90], "webp": [10, 30, 50, 70, 90]},
)
