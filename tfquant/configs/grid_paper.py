"""The paper's full grid (Tsubota & Aizawa 2023, Ballé17 and Ballé18): 1M steps per run at
the paper's filters and lambdas; meant for GPUs. Use `bin/compare --print_jobs` to hand the
cells to a cluster's scheduler, then `bin/compare --notrain` to evaluate and report.
"""
import os

from tfquant import data

_CONFIGS = os.path.dirname(os.path.abspath(__file__))

GRID = dict(
    out_dir="runs/grid_paper",
    archs={"balle2017": dict(num_filters=128), "balle2018": dict(num_filters=128,
                                                                 latent_filters=128)},
    arch_configs={arch: os.path.join(_CONFIGS, f"{arch}.py")
                  for arch in ("balle2017", "balle2018")},
    pairs=[("noise", "noise"), ("ste", "ste"), ("universal", "universal"), ("sga", "sga"),
           ("dsq", "dsq"), ("sth", "sth"), ("noise", "ste"), ("noise", "universal"),
           ("noise", "dsq"), ("universal", "ste"), ("universal", "dsq")],
    lambdas=[0.001, 0.003, 0.01, 0.03],
    train=dict(steps=1000000, train_glob=os.path.join(data.shared_dir("photos") or ".",
                                                      "*.png")),
    eval_images=data.shared_dir("kodak"),
    baselines={"jpeg": [5, 10, 20, 30, 50, 70, 85, 95], "webp": [5, 10, 20, 30, 50, 70, 90]},
)
