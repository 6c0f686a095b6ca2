"""Architectures by name, and saving/loading a model with its coding tables."""

import inspect
import io
import json
import os
import tempfile

import numpy as np
import tensorflow as tf

from tfquant import zoo

from tfquant.models.balle2017 import Balle2017
from tfquant.models.balle2018 import Balle2018
from tfquant.models.base import CompressionModel
from tfquant.models.cheng2020 import Cheng2020
from tfquant.models.minnen2018 import Minnen2018
from tfquant.models import widen

_ARCHS = {cls.arch: cls for cls in (Balle2017, Balle2018, Minnen2018, Cheng2020)}
CONFIG_FILE = "model.json"
WEIGHTS_PREFIX = "weights"
RUN_MODEL_DIR = "model"  # where a training run keeps its final, finalized model
HALF_WEIGHTS_FILE = "weights-float16.npz"
_OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
FILTERS = ("num_filters", "latent_filters")


def names():
  return list(_ARCHS)


def create(arch, precision="float32", **options):
  """Builds an architecture by name; options are its constructor arguments.

  `precision` is the Keras mixed-precision policy its transforms compute in ("float32",
  "mixed_bfloat16" or "mixed_float16"; variables stay float32, so weights move freely
  between precisions); the entropy side is float32 in every policy (`build_variables`).
  The global policy is left as it was.
  """
  try:
    cls = _ARCHS[arch]
  except KeyError:
    raise ValueError(f"Unknown architecture {arch!r}; choose from {', '.join(_ARCHS)}.") from None
  accepted = inspect.signature(cls.__init__).parameters
  unknown = sorted(set(options) - set(accepted))
  if unknown:
    valid = ", ".join(p for p in accepted if p != "self")
    raise ValueError(f"{arch} has no option(s) {', '.join(unknown)}; its options are: {valid}.")
  previous = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(precision)
  try:
    return cls(**options)
  finally:
    tf.keras.mixed_precision.set_global_policy(previous)


def save(model, directory, float16=False):
  """Writes `directory/model.json` (architecture, options, coding tables' shapes) and weights;
  `float16` stores the convolutions' weights in half precision (half the size: the model
  zoo's entries)."""
  tf.io.gfile.makedirs(directory)
  coders = {name: codec.coder_config() for name, codec in model.latent_codecs.items()
            } if model.finalized else None
  config = {"arch": model.arch, "options": model.get_config(), "coders": coders}
  prefix = os.path.join(directory, WEIGHTS_PREFIX)
  tf.train.Checkpoint(model=model).write(prefix)
  if float16:
    config["weights"] = HALF_WEIGHTS_FILE
    _write_half(prefix, os.path.join(directory, HALF_WEIGHTS_FILE))
    for path in tf.io.gfile.glob(prefix + ".*"):
      tf.io.gfile.remove(path)
  with tf.io.gfile.GFile(os.path.join(directory, CONFIG_FILE), "w") as f:
    json.dump(config, f, indent=2, sort_keys=True)


def saved_directory(directory):
  """Where the model that `directory` names was saved: `directory` itself (what `save`
  wrote), a training run's `model/`, or a zoo entry ("zoo:NAME"); None if it names none."""
  if directory.startswith(zoo.PREFIX):
    directory = zoo.path(directory)
  for candidate in (directory, os.path.join(directory, RUN_MODEL_DIR)):
    if tf.io.gfile.exists(os.path.join(candidate, CONFIG_FILE)):
      return candidate
  return None


def _saved(directory):
  found = saved_directory(directory)
  if found is None:
    raise FileNotFoundError(f"No saved model in {directory!r} (missing {CONFIG_FILE}).")
  with tf.io.gfile.GFile(os.path.join(found, CONFIG_FILE)) as f:
    return found, json.load(f)


def _read_weights(directory, config, model):
  checkpoint = tf.train.Checkpoint(model=model)
  if config.get("weights") == HALF_WEIGHTS_FILE:
    _read_half(os.path.join(directory, HALF_WEIGHTS_FILE), checkpoint)
  else:
    checkpoint.read(os.path.join(directory, WEIGHTS_PREFIX)).assert_existing_objects_matched()


def load(directory, precision="float32", **options):
  """Inverse of `save`: the same architecture, weights and (if finalized) coding tables.

  `directory` is what `save` wrote, a training run directory (its final model is in
  `model/`), or "zoo:NAME" for a model shipped with tfquant (`tfquant.zoo`); `precision` is
  the policy of its transforms (see `create`); `options` replace saved ones that leave the
  variables as they are (e.g. `context="serial"` for a checkerboard model: its weights,
  tables included, coded another way).
  """
  directory, config = _saved(directory)
  model = create(config["arch"], precision, **dict(config["options"], **options))
  if config["coders"] is not None:
    for name, codec in model.latent_codecs.items():
      codec.prepare_restore(config["coders"][name])
  _read_weights(directory, config, model)
  return model


def read_weights(model, directory):
  """Reads a saved model's weights into `model`, the same architecture and filters with
  other quantizers or λ (a fine-tune's start); what `model` lacks or adds is left as is. A
  Ballé17 or Ballé18 `model` with more filters than the saved one starts as its widening
  (`widen`): it computes what the saved model does, and training grows the new channels.

  The saved model is loaded whole and its variables copied by object path: a partial
  checkpoint read would defer what `model` lacks yet (its coding tables) and restore the
  source's stale tables into them at `finalize`, long after the read.
  """
  source = load(directory)
  if source.arch != model.arch:
    raise ValueError(f"{directory} holds a {source.arch} model, not {model.arch}.")
  if any(source.options.get(key) != model.options.get(key) for key in FILTERS):
    widen.widen_into(source, model)
    return
  if not copy_shared_variables(source, model, directory):
    raise ValueError(f"{directory} shares no weights with this {model.arch} model.")


def copy_shared_variables(source, target, directory="the source", path="model", seen=None,
                          resize=None, parents=()):
  """Assigns each variable of `target` the one of `source` at the same object path;
  returns how many were copied (an object reached by two paths counts once). Where the
  shapes differ, `resize(path, value, variable, parents)` gives what to assign (`parents`:
  the objects above `variable`, outermost first); without it, that is an error."""
  view = tf.train.TrackableView
  seen = set() if seen is None else seen
  theirs = view.children(source)
  copied = 0
  for name, child in view.children(target).items():
    counterpart = theirs.get(name)
    if counterpart is None or id(child) in seen:
      continue
    seen.add(id(child))
    if isinstance(child, tf.Variable):
      value = counterpart
      if child.shape != counterpart.shape:
        if resize is None:
          raise ValueError(f"{directory}: {path}/{name} is {counterpart.shape.as_list()}, this "
                           f"model's {child.shape.as_list()} (other filters?).")
        value = resize(f"{path}/{name}", counterpart.numpy(), child, parents + (target,))
      child.assign(value)
      copied += 1
    else:
      copied += copy_shared_variables(counterpart, child, directory, f"{path}/{name}", seen,
                                      resize, parents + (target,))
  return copied


def _halved(key):
  """Convolution kernels and biases, the bulk of a model, survive float16 (a zoo entry's
  figures are measured after it); GDN's reparameterized variables, entropy models and tables
  stay as they are (GDN's pedestal is below float16's range)."""
  return "/_kernel_parameter/" in key or "/_bias_parameter/" in key


def _write_half(prefix, path):
  """The checkpoint at `prefix` as an .npz, float16 where `_halved`, keys unchanged."""
  reader = tf.train.load_checkpoint(prefix)
  arrays = {}
  for key in reader.get_variable_to_dtype_map():
    value = reader.get_tensor(key)
    if key == _OBJECT_GRAPH:
      value = np.frombuffer(value, np.uint8)
    elif _halved(key):
      value = value.astype(np.float16)
    arrays[key] = value
  buffer = io.BytesIO()  # zipfile seeks, which a GFile being written can't
  np.savez(buffer, **arrays)
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(buffer.getvalue())


def _read_half(path, checkpoint):
  """Restores `checkpoint` from `_write_half`'s file (through a float32 checkpoint written
  with the same keys, so restoring matches objects exactly as for a plain save)."""
  with tf.io.gfile.GFile(path, "rb") as f, np.load(io.BytesIO(f.read())) as arrays:
    names = list(arrays.files)
    tensors = [tf.constant(arrays[k].tobytes()) if k == _OBJECT_GRAPH else
               tf.constant(arrays[k].astype(np.float32) if arrays[k].dtype == np.float16
                           else arrays[k]) for k in names]
  with tempfile.TemporaryDirectory() as directory:
    prefix = os.path.join(directory, WEIGHTS_PREFIX)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=tensors)
    checkpoint.read(prefix).assert_existing_objects_matched()


__all__ = ["CompressionModel", "names", "create", "save", "load", "read_weights",
           "saved_directory"]
