"""The model zoo's Ballé18 (tfquant/zoo/), made by `bin/make-zoo --config=configs/zoo_balle2018.py`.

Trained on this 2-core CPU: small filters (N=64, M=96), 128² crops, batch 8, Adam 1e-3 dropped
×0.1 for the last 20% (a constant 1e-3 is noisy: issue 19's table). One run at λ=0.01 from
scratch (`CONFIG`); the other λ are fine-tuned from it (`ZOO["finetune"]`), which costs a
fraction of training each from scratch. `bin/make-zoo` resumes every run after any interruption.
"""
import os

from tfquant import data

_PHOTOS = data.shared_dir("photos") or data.sample_dir()

CONFIG = dict(
    arch="balle2018",
    num_filters=64,
    latent_filters=96,
    ent_quant="noise",
    lmbda=0.01,
    batch_size=8,
    patch_size=128,
    steps=7000,
    lr=1e-3,
    lr_decay_fraction=0.8,
    checkpoint_every=500,
    summary_every=100,
    image_summary_every=2000,
    train_glob=os.path.join(_PHOTOS, "*.png"),
)

ZOO = dict(
    name="balle2018-mse-{lmbda}",  # the entry of each λ
    # Other λ: CONFIG's final weights, then these settings.
    finetune={lmbda: dict(lmbda=lmbda, steps=1200, lr=5e-4, lr_decay_fraction=0.7)
              for lmbda in (0.0025, 0.005, 0.02)},
)
