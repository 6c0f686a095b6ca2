"""A run directory's files: its configuration, its lock, and finding its checkpoints (for a
fine-tune's starting weights, or for commands that load a run's `best/` or `ckpt-N`)."""

import contextlib
import dataclasses
import json
import os

import tensorflow as tf
from absl import logging

from tfquant import data, models
from tfquant.train import strategy

CONFIG_FILE = "config.json"
LOCK_FILE = ".lock"
CHECKPOINTS_DIR = "checkpoints"
BEST_DIR = "best"
# What a run *is*: changing one of these on resume would mix two runs in one directory.
IDENTITY = ("arch", "num_filters", "latent_filters", "context", "distortion", "ent_quant",
            "dec_quant", "z_ent_quant", "z_dec_quant", "lmbda", "lmbda_max", "arch_options")


@contextlib.contextmanager
def lock(train_dir):
  """Holds an exclusive lock on `train_dir` while a run uses it; a second run is refused (an
  flock on `train_dir/.lock`: `data.exclusive`). Directories on remote file systems (gs://,
  ...) are not locked."""
  if "://" in train_dir:
    yield
    return
  data.make_folder(train_dir)
  with data.exclusive(os.path.join(train_dir, LOCK_FILE), lambda holder: (
      f"{train_dir} is in use by another training process (pid {holder}); wait for it to "
      "finish or use another --train_dir.")):
    yield


def write_config(config):
  """Writes `config.json`; on resume, refuses a different run's identity, says which other
  settings (learning rate, steps, ...) changed and returns their names."""
  os.makedirs(config.train_dir, exist_ok=True)
  path = os.path.join(config.train_dir, CONFIG_FILE)
  resolved = dataclasses.asdict(config)
  resolved["resolved_model_options"] = config.model_options()
  resolved["resolved_precision"] = strategy.resolve_precision(config.precision)
  changed = []
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    changed = sorted(k for k in resolved if k in previous and previous[k] != resolved[k])
    different_run = [k for k in changed if k in IDENTITY]
    if different_run:
      raise ValueError(f"{config.train_dir} holds a run with different {different_run}; "
                       "use another --train_dir.")
    changed = [k for k in changed if k != "resolved_model_options"]
    if changed:
      logging.warning("Resuming %s with changed settings: %s.", config.train_dir, "; ".join(
          f"{k} {previous[k]!r} → {resolved[k]!r}" for k in changed))
  with open(path, "w") as f:
    json.dump(resolved, f, indent=2, sort_keys=True)
  return changed


def initial_checkpoint(path):
  """The checkpoint prefix that `path` names: a checkpoint prefix itself, a checkpoints
  directory, or a run directory (its newest checkpoint)."""
  for directory in (path, os.path.join(path, CHECKPOINTS_DIR)):
    if tf.io.gfile.isdir(directory):
      latest = tf.train.latest_checkpoint(directory)
      if latest:
        return latest
  if tf.io.gfile.exists(path + ".index"):
    return path
  raise ValueError(f"--init_from={path!r} names no checkpoint (a run directory, its "
                   "checkpoints/ directory, a checkpoint prefix such as .../ckpt-2000, or a "
                   "saved model such as zoo:NAME).")


def _run_checkpoint(path):
  """(run directory, checkpoint prefix) if `path` is a run's best/ or checkpoints/
  directory or a checkpoint prefix in one of them; else None."""
  path = os.path.normpath(path)
  directory = path if tf.io.gfile.isdir(path) else os.path.dirname(path)
  if os.path.basename(directory) not in (BEST_DIR, CHECKPOINTS_DIR):
    return None
  run = os.path.dirname(directory)
  if not tf.io.gfile.exists(os.path.join(run, CONFIG_FILE)):
    return None
  prefix = tf.train.latest_checkpoint(path) if directory == path else path
  if prefix is None or not tf.io.gfile.exists(prefix + ".index"):
    raise FileNotFoundError(f"No checkpoint at {path!r}.")
  return run, prefix


def load_model(path):
  """`models.load(path)`, or a training run's checkpoint: RUN/best, RUN/checkpoints (its
  newest) or RUN/checkpoints/ckpt-N, rebuilt from the run's config, restored and finalized."""
  found = _run_checkpoint(path)
  if found is None:
    return models.load(path)
  run, prefix = found
  with open(os.path.join(run, CONFIG_FILE)) as f:
    config = json.load(f)
  model = models.create(config["arch"], **config["resolved_model_options"])
  status = tf.train.Checkpoint(model=model).read(prefix)
  status.assert_existing_objects_matched().expect_partial()
  model.finalize()
  logging.info("Loaded %s (step %s of %s), finalized.", prefix, prefix.rsplit("-", 1)[-1], run)
  return model
