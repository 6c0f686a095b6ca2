"""The models shipped in tfquant/zoo/: loadable by name, documented by their cards, coding."""

import numpy as np
import pytest

from tfquant import coding, models, zoo
from tests.helpers import hard_forward, sample_image


def test_every_entry_loads_by_name_and_codes_exactly():
  assert zoo.names(), "the zoo ships at least one model"
  for name in zoo.names():
    card = zoo.card(name)
    assert card["steps"] > 0 and card["training_seconds"] > 0
    assert card["kodak"]["bpp"] > 0 and card["kodak"]["psnr"] > 20
    model = models.load(f"zoo:{name}")
    assert model.finalized and model.lmbda == card["config"]["lmbda"]
    image = sample_image(64, 96)
    for coder in coding.coders.NAMES:
      data = coding.encode(model, image, coder=coder)
      np.testing.assert_array_equal(coding.decode(model, data), hard_forward(model, image))


def test_unknown_zoo_name_is_clear():
  with pytest.raises(FileNotFoundError, match="No zoo model 'nope'"):
    models.load("zoo:nope")
