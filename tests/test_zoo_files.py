"""Every zoo entry loads by name and codes as its golden files in tests/data/zoo say it did."""

import os

import numpy as np
import pytest

from tfquant import coding, data, models, zoo
from tests.helpers import hard_forward, sample_image, zoo_lmbda


GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "zoo")


def first_of_its_family(name):
  """The first entry of a family is coded every way: with every coder (golden files of each),
  and with float entropy parameters; the rest with the default coder alone (the ways of coding
  are tested elsewhere; here each entry's weights are)."""
  return any(name == names[0] for names in zoo.families().values())


def golden_coders(name):
  """The coders of `name`'s golden files (`first_of_its_family`)."""
  return coding.coders.NAMES if first_of_its_family(name) else (coding.coders.DEFAULT,)


def test_the_zoo_ships_models():
  assert zoo.names()


@pytest.mark.parametrize("name", zoo.names())
def test_every_entry_loads_by_name_and_codes_exactly(name):
  """...and as it always has, on any machine: tests/data/zoo holds each entry's file of the same
  image, written by an earlier version (with integer entropy parameters where the model has
  them), and its decoded pixels. This version decodes the same symbols (the container checks
  them) to pixels at most one level away (the synthesis runs in floats, whose last bits vary
  with the CPU), and writes the same bytes. Float entropy parameters code the same symbols."""
  card = zoo.card(name)
  assert card["steps"] > 0 and card["training_seconds"] > 0
  assert card["kodak"]["bpp"] > 0 and card["kodak"]["psnr"] > 20
  model = models.load(f"zoo:{name}")
  config = card["config"]
  assert model.finalized and model.lmbda == (
      [config["lmbda"], config["lmbda_max"]] if config.get("lmbda_max") else config["lmbda"])
  image, lmbda = sample_image(64, 96), zoo_lmbda(model)
  golden = data.read_image(os.path.join(GOLDEN, f"{name}-decoded.png")).astype(int)
  symbol_checksums = {}
  for coder in golden_coders(name):
    with open(os.path.join(GOLDEN, f"{name}-{coder}.tfq"), "rb") as f:
      old_file = f.read()
    decoded = np.asarray(coding.decode(model, old_file))
    off = np.abs(decoded.astype(int) - golden)
    assert off.max() <= 1 and off.mean() < 0.01, f"{name} ({coder}) decodes to other pixels"
    np.testing.assert_array_equal(decoded, hard_forward(model, image, lmbda))
    old, new = (coding.unpack(payload) for payload in (old_file, coding.encode(
        model, image, coder=coder, lmbda=lmbda)))
    assert old.integer == model.has_integer_parameters
    assert (new.strings, new.symbol_checksum) == (old.strings, old.symbol_checksum), (
        f"{name} ({coder}) writes other bytes than it used to")
    symbol_checksums[coder] = old.symbol_checksum
  if first_of_its_family(name) and model.has_integer_parameters:
    # Float tables: other strings, the same symbols (these models round around integers, not
    # around predicted means).
    floats = coding.unpack(coding.encode(model, image, integer=False, lmbda=lmbda))
    assert floats.symbol_checksum == symbol_checksums[coding.coders.DEFAULT]
