"""Writes the golden files of zoo entries for test_zoo_files: each named entry's file of the same
image with its coders (`golden_coders`), and its decoded pixels as a PNG.

    python -m tests.zoo_golden NAME [NAME ...]     # after `make-zoo` replaced these entries

The files use the model's default entropy parameters: integer ones where it has them, because
only those tables are the same on every CPU (float ones decode exactly only on an instruction
set that computes the same floats). From then on every later version, on any machine, must
decode those files to the same symbols and write the same bytes; an entry's golden files change
only when its weights do, or the rules that make its integer twins (a file format change).
"""

import os
import sys

import numpy as np

from tfquant import coding, data, models
from tests.helpers import sample_image, zoo_lmbda
from tests.test_zoo_files import GOLDEN, golden_coders


def write(names):
  image = sample_image(64, 96)
  for name in names:
    model = models.load(f"zoo:{name}")
    for coder in golden_coders(name):
      payload = coding.encode(model, image, coder=coder, lmbda=zoo_lmbda(model))
      with open(os.path.join(GOLDEN, f"{name}-{coder}.tfq"), "wb") as f:
        f.write(payload)
    data.write_png(os.path.join(GOLDEN, f"{name}-decoded.png"),
                   np.asarray(coding.decode(model, payload)))


if __name__ == "__main__":
  write(sys.argv[1:])
