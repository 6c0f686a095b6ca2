"""The model zoo's Ballé17 (tfquant/zoo/balle2017-mse-*), made by
`tfquant make-zoo --config=zoo_balle2017`: the common starts of a Ballé17 fine-tune grid.

The study's width (N = M = 128; it uses 192 at λ=0.03, here 128 throughout so that one
model is fine-tuned to every λ) and its λ set. Trained as the Ballé18 zoo (zoo_balle2018:
128² crops, batch 8, Adam 1e-3 dropped ×0.1 for the last 20%), but in bfloat16 and longer;
one run from scratch at λ=0.01, the other λ fine-tuned from its final weights.
"""
from zoo_balle2018 import CONFIG as _BALLE2018

CONFIG = dict(_BALLE2018, arch="balle2017", num_filters=128, latent_filters=None, steps=10000,
              precision="mixed_bfloat16")

ZOO = dict(
    name="balle2017-mse-{lmbda}",
    finetune={lmbda: dict(lmbda=lmbda, steps=2000, lr=5e-4, lr_decay_fraction=0.7)
              for lmbda in (0.001, 0.003, 0.03)},
)
