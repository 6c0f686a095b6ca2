"""The model zoo's Cheng20 (tfquant/zoo/cheng2020-mse-*), made by
`tfquant make-zoo --config=zoo_cheng2020`: the common starts of a Cheng20 fine-tune grid.

What this 2-core CPU affords of the study's Cheng20 (configs/cheng2020.py): N = 64 instead of
128, no attention modules (the paper's "anchor"; with them a step costs twice as much:
0.83 against 0.42 s in bfloat16), the K = 3 Gaussian mixture kept, and He et al.'s
checkerboard context instead of the serial one, whose coding (~11 s per Kodak image each way
at N = 64) would cost more than the training in a 44-cell grid. Four of the study's six λ.
Trained as the other zoo families (128² crops, batch 8, Adam 1e-3 dropped ×0.1 for the last
20%, bfloat16): one run from scratch at λ=0.0075, the others fine-tuned from its final weights.
"""
from zoo_balle2018 import CONFIG as _BALLE2018

CONFIG = dict(_BALLE2018, arch="cheng2020", num_filters=64, latent_filters=None,
              context="checkerboard", lmbda=0.0075, steps=8000, precision="mixed_bfloat16",
              arch_options={"attention": False, "components": 3})

ZOO = dict(
    name="cheng2020-mse-{lmbda}",
    finetune={lmbda: dict(lmbda=lmbda, steps=2000, lr=5e-4, lr_decay_fraction=0.7)
              for lmbda in (0.003, 0.015, 0.03)},
)
