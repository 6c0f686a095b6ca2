"""The model zoo's Ballé17 (tfquant/zoo/balle2017-mse-*), made by
`tfquant make-zoo --config=zoo_balle2017`: the common starts of the Ballé17 fine-tune grid
(grid_finetune_balle2017).

The study's width (N = M = 128; it uses 192 at λ=0.03, here 128 throughout so that one
model is fine-tuned to every λ) and its λ set. Trained in bfloat16 on this 2-core CPU as the
Ballé18 zoo was in float32: 128² crops, batch 8, Adam 1e-3 dropped ×0.1 for the last 20%; one
run from scratch at λ=0.01, the other λ fine-tuned from its final weights.
"""
import os

from tfquant import data

_PHOTOS = data.shared_dir("photos") or data.sample_dir()

CONFIG = dict(
    arch="balle2017",
    num_filters=128,
    ent_quant="noise",
    lmbda=0.01,
    batch_size=8,
    patch_size=128,
    steps=10000,
    lr=1e-3,
    lr_decay_fraction=0.8,
    precision="mixed_bfloat16",
    checkpoint_every=500,
    summary_every=100,
    image_summary_every=2000,
    train_glob=os.path.join(_PHOTOS, "*.png"),
)

ZOO = dict(
    name="balle2017-mse-{lmbda}",
    finetune={lmbda: dict(lmbda=lmbda, steps=2000, lr=5e-4, lr_decay_fraction=0.7)
              for lmbda in (0.001, 0.003, 0.03)},
)
