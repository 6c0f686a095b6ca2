"""Architectures by name, and saving/loading a model with its coding tables."""

import inspect
import json
import os

import tensorflow as tf

from tfquant import zoo

from tfquant.models.balle2017 import Balle2017
from tfquant.models.balle2018 import Balle2018
from tfquant.models.base import CompressionModel
from tfquant.models.cheng2020 import Cheng2020
from tfquant.models.minnen2018 import Minnen2018

_ARCHS = {cls.arch: cls for cls in (Balle2017, Balle2018, Minnen2018, Cheng2020)}
CONFIG_FILE = "model.json"
WEIGHTS_PREFIX = "weights"
RUN_MODEL_DIR = "model"  # where a training run keeps its final, finalized model


def names():
  return list(_ARCHS)


def create(arch, **options):
  """Builds an architecture by name; options are its constructor arguments."""
  try:
    cls = _ARCHS[arch]
  except KeyError:
    raise ValueError(f"Unknown architecture {arch!r}; choose from {', '.join(_ARCHS)}.") from None
  accepted = inspect.signature(cls.__init__).parameters
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    valid = ", ".join(p for p in accepted if p != "self")
    raise ValueError(f"{arch} has no option(s) {', '.join(unknown)}; its options are: {valid}.")
  return cls(**options)


def save(model, directory):
  """Writes `directory/model.json` (architecture, options, coding tables' shapes) and weights."""
  tf.io.gfile.makedirs(directory)
  coders = {name: codec.coder_config() for name, codec in model.latent_codecs.items()
            } if model.finalized else None
  config = {"arch": model.arch, "options": model.get_config(), "coders": coders}
  tf.train.Checkpoint(model=model).write(os.path.join(directory, WEIGHTS_PREFIX))
  with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)


def load(directory):
  """Inverse of `save`: the same architecture, weights and (if finalized) coding tables.

  `directory` is what `save` wrote, a training run directory (its final model is in
  `model/`), or "zoo:NAME" for a model shipped with tfquant (`tfquant.zoo`).
  """
  if directory.startswith(zoo.PREFIX):
    directory = zoo.path(directory)
  if not tf.io.gfile.exists(os.path.join(directory, CONFIG_FILE)):
    if tf.io.gfile.exists(os.path.join(directory, RUN_MODEL_DIR, CONFIG_FILE)):
      directory = os.path.join(directory, RUN_MODEL_DIR)
    else:
      raise FileNotFoundError(f"No saved model in {directory!r} (missing {CONFIG_FILE}).")
  path = os.path.join(directory, CONFIG_FILE)
  with tf.io.gfile.GFile(path) as f:
    config = json.load(f)
  model = create(config["arch"], **config["options"])
  if config["coders"] is not None:
    for name, codec in model.latent_codecs.items():
      codec.prepare_restore(config["coders"][name])
  tf.train.Checkpoint(model=model).read(
      os.path.join(directory, WEIGHTS_PREFIX)).assert_existing_objects_matched()
  return model


__all__ = ["CompressionModel", "names", "create", "save", "load"]
