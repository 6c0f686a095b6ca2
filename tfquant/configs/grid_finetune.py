"""The paper's comparison from a common start: every pair of the grid (the AUN-Q anchor too)
fine-tuned for the same 500 steps from the model zoo's AUN-Q/AUN-Q Ballé18 at each λ
(N=64, M=96, trained 7000 + 1200 steps on ../shared/data/photos), then evaluated on Kodak.

Unlike the paper (each pair trained from scratch for 1M steps), every cell starts from the
same weights, so the seed variance that sank grid_mini (docs/RESULTS.md) mostly cancels; what
it measures is how a quantizer pair moves an already trained model, not what it reaches from
scratch. On two CPU cores a run takes ~5 minutes and its Kodak evaluation ~1.4: ~5 hours for
the 44 runs; `bin/compare` resumes. `grid_finetune_seed1.py` repeats three pairs with another seed.
"""
import os

from tfquant import data, zoo

_PHOTOS = data.shared_dir("photos") or data.sample_dir()
_ZOO_LAMBDAS = sorted(zoo.card(name)["config"]["lmbda"] for name in zoo.names()
                      if name.startswith("balle2018-mse-"))

GRID = dict(
    out_dir="runs/grid_finetune",
    archs={"balle2018": dict(num_filters=64, latent_filters=96)},
    # the anchor and the pairs repeated with seed 1 first, then the two that change one side of
    # U-Q/DS-Q, so a partial grid reports them
    pairs=[("noise", "noise"), ("universal", "dsq"), ("noise", "ste"), ("ste", "ste"),
           ("noise", "dsq"), ("universal", "ste"), ("universal", "universal"), ("sga", "sga"),
           ("dsq", "dsq"), ("sth", "sth"), ("noise", "universal")],
    lambdas=_ZOO_LAMBDAS,
    train=dict(steps=500, batch_size=8, patch_size=128, lr=1e-4, checkpoint_every=250,
               summary_every=50, image_summary_every=500,
               init_from="zoo:balle2018-mse-{lmbda:g}",
               train_glob=os.path.join(_PHOTOS, "*.png")),
    eval_images=data.shared_dir("kodak"),
    baselines={"jpeg": [10, 20, 30, 50, 70, 90], "webp": [10, 30, 50, 70, 90]},
)
