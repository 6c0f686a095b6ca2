"""The models shipped in tfquant/zoo/: loadable by name, documented by their cards, coding."""

import hashlib
import json
import os

import numpy as np
import pytest

from tfquant import coding, models, zoo
from tests.helpers import hard_forward, sample_image


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "zoo")


def test_every_entry_loads_by_name_and_codes_exactly():
  """...and as it always has: tests/data/zoo holds each entry's file of the same image, written
  by an earlier version (container version 2, float entropy parameters), with the SHA-256 of
  its decoded pixels; this version writes the same coded strings and symbols with float
  entropy parameters, and the same symbols with integer ones."""
  assert zoo.names(), "the zoo ships at least one model"
  with open(os.path.join(GOLDEN, "decoded-sha256.json")) as f:
    golden_pixels = json.load(f)
  for name in zoo.names():
    card = zoo.card(name)
    assert card["steps"] > 0 and card["training_seconds"] > 0
    assert card["kodak"]["bpp"] > 0 and card["kodak"]["psnr"] > 20
    model = models.load(f"zoo:{name}")
    assert model.finalized and model.lmbda == card["config"]["lmbda"]
    image = sample_image(64, 96)
    for coder in coding.coders.NAMES:
      with open(os.path.join(GOLDEN, f"{name}-{coder}.tfq"), "rb") as f:
        old_file = f.read()
      decoded = coding.decode(model, old_file)
      assert hashlib.sha256(np.asarray(decoded).tobytes()).hexdigest() == golden_pixels[
          f"{name}-{coder}"], f"{name} ({coder}) decodes its old file to other pixels"
      np.testing.assert_array_equal(decoded, hard_forward(model, image))
      old, new = (coding.unpack(data) for data in (old_file, coding.encode(
          model, image, coder=coder, integer=False)))
      assert (new.strings, new.symbol_checksum) == (old.strings, old.symbol_checksum), (
          f"{name} ({coder}) writes other bytes than it used to")
      if coder != coding.coders.DEFAULT:
        continue
      # By default the tables come from integer entropy parameters: other strings, the same
      # symbols (these models round around integers, not around predicted means).
      default = coding.unpack(coding.encode(model, image, coder=coder))
      assert default.integer == model.has_integer_parameters
      assert default.symbol_checksum == old.symbol_checksum, name


def test_unknown_zoo_name_is_clear():
  with pytest.raises(FileNotFoundError, match="No zoo model 'nope'"):
    models.load("zoo:nope")
