"""The paper's comparison in miniature, for CPUs: balle2018 at N=64, M=96, 128×128 patches,
batch 8, three lambdas, the paper's pairs, 2000 steps each. At this budget the paper's Adam 1e-4
barely moves the model, so the rate is 1e-3, dropped ×0.1 for the last 20%. About 0.3 s a step
on two CPU cores: ~6 hours for the 33 runs; `bin/compare` resumes, so it can be finished over
several calls. Trains on ../shared/data/photos and evaluates on ../shared/data/kodak where
present.
"""
import os

from tfquant import data

_PHOTOS = data.shared_dir("photos") or data.sample_dir()
_STEPS = 2000

GRID = dict(
    out_dir="runs/grid_mini",
    archs={"balle2018": dict(num_filters=64, latent_filters=96)},
    arch_configs={"balle2018": os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "balle2018.py")},
    pairs=[("noise", "noise"), ("ste", "ste"), ("universal", "universal"), ("sga", "sga"),
           ("dsq", "dsq"), ("sth", "sth"), ("noise", "ste"), ("noise", "universal"),
           ("noise", "dsq"), ("universal", "ste"), ("universal", "dsq")],
    lambdas=[0.003, 0.01, 0.03],
    train=dict(steps=_STEPS, batch_size=8, patch_size=128, lr=1e-3, lr_decay_fraction=0.8, checkpoint_every=250,
               summary_every=100, image_summary_every=1000,
               train_glob=os.path.join(_PHOTOS, "*.png")),
    eval_images=data.shared_dir("kodak"),
    baselines={"jpeg": [10, 20, 30, 50, 70, 90], "webp": [10, 30, 50, 70, 90]},
)
