"""Writes the golden files of zoo entries for test_zoo: each named entry's file of the same
image with each coder (float entropy parameters) and the SHA-256 of its decoded pixels.

    python -m tests.zoo_golden NAME [NAME ...]     # after `make-zoo` replaced these entries

From then on every later version must decode those files to those pixels and write the same
bytes; an entry's golden files change only when its weights do.
"""

import hashlib
import json
import os
import sys

import numpy as np

from tfquant import coding, models
from tests.helpers import sample_image, zoo_lmbda
from tests.test_zoo import GOLDEN


def write(names):
  path = os.path.join(GOLDEN, "decoded-sha256.json")
  with open(path) as f:
    pixels = json.load(f)
  image = sample_image(64, 96)
  for name in names:
    model = models.load(f"zoo:{name}")
    for coder in coding.coders.NAMES:
      payload = coding.encode(model, image, coder=coder, integer=False, lmbda=zoo_lmbda(model))
      with open(os.path.join(GOLDEN, f"{name}-{coder}.tfq"), "wb") as f:
        f.write(payload)
      decoded = np.asarray(coding.decode(model, payload))
      pixels[f"{name}-{coder}"] = hashlib.sha256(decoded.tobytes()).hexdigest()
  with open(path, "w") as f:
    json.dump(pixels, f, indent=1, sort_keys=True)
    f.write("\n")


if __name__ == "__main__":
  write(sys.argv[1:])
