"""A run's checkpoints: checkpoints/ (the newest few) and best/ (the lowest validation loss),
written whole or not at all, and the resume that reads them back."""

import contextlib
import os
import signal
import tempfile
import threading

import numpy as np
import tensorflow as tf
from absl import logging

from tfquant import models
from tfquant.train import run_dir

# The settings make_dataset reads: a checkpoint's data position is only valid for the same ones.
DATA_SETTINGS = ("train_glob", "tfds_name", "tfds_split", "tfds_data_dir", "batch_size",
                 "patch_size", "random_downscale", "seed")


@contextlib.contextmanager
def interrupts_deferred():
  """Holds Ctrl-C until the block ends, so a checkpoint is written whole or not at all.

  CheckpointManager names its new checkpoint latest before it records it on disk; an interrupt
  between the two would report a checkpoint that a resume cannot find.
  """
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  interrupted = []
  previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
  try:
    yield
  finally:
    signal.signal(signal.SIGINT, previous)
  if interrupted:
    raise KeyboardInterrupt


class Checkpoints:
  """Saves and restores `state` (model, optimizer, best_loss and, on one device, the data
  iterator) in the run directory; workers other than the chief write to throw-away ones."""

  def __init__(self, config, state, chief):
    self.config, self.state = config, state
    self.checkpoint = tf.train.Checkpoint(**state)
    self.latest_manager = tf.train.CheckpointManager(
        self.checkpoint, self._directory(run_dir.CHECKPOINTS_DIR, chief),
        config.keep_checkpoints)
    self.best_manager = tf.train.CheckpointManager(
        self.checkpoint, self._directory(run_dir.BEST_DIR, chief), 1)

  def _directory(self, name, chief):
    if chief:
      return os.path.join(self.config.train_dir, name)
    return tempfile.mkdtemp(prefix=f"tfquant-worker-{name}-")

  @property
  def latest(self):
    """The newest checkpoint's path, or None."""
    return self.latest_manager.latest_checkpoint

  @property
  def paths(self):
    """The kept checkpoints' paths, oldest first."""
    return list(self.latest_manager.checkpoints)

  def restore(self, changed=()):
    """Resumes from the newest checkpoint, or starts from `init_from`'s weights.

    If a setting of the input pipeline is among `changed` (`write_config`'s answer) the crops
    start afresh instead of where the checkpoint's pipeline stopped, which could not go on
    with another batch or crop size. A fresh run with `init_from` starts from that
    checkpoint's (or saved model's, zoo:NAME included) model weights, not its optimizer, step
    or data position: a fine-tune to another λ or quantizer pair.
    """
    model = self.state["model"]
    new_data = [name for name in DATA_SETTINGS if name in changed]
    path, init_from = self.latest, self.config.init_from
    if path and new_data and "data" in self.state:
      without_data = {k: v for k, v in self.state.items() if k != "data"}
      tf.train.Checkpoint(**without_data).read(path).expect_partial()
      logging.info("Resumed from %s at step %d; the crops start afresh (%s changed).", path,
                   self._step(), ", ".join(new_data))
    elif path:
      self.checkpoint.restore(path)
      logging.info("Resumed from %s at step %d.", path, self._step())
    elif init_from and models.saved_directory(init_from):
      models.read_weights(model, init_from)
      logging.info("Started from the weights of the saved model %s.", init_from)
    elif init_from:
      source = run_dir.initial_checkpoint(init_from)
      tf.train.Checkpoint(model=model).read(source).expect_partial()
      logging.info("Started from the weights of %s.", source)

  def _step(self):
    return int(self.state["optimizer"].iterations.numpy())

  def save(self, best=False):
    """Writes a checkpoint numbered by the step into checkpoints/ (or best/); refuses a model
    whose weights are not finite, so the newest checkpoint is always a good state."""
    for variable in self.state["model"].variables:
      if variable.dtype.is_floating and not np.all(np.isfinite(variable.numpy())):
        raise FloatingPointError(
            f"Not saving: variable {variable.name} is not finite at step {self._step()}.")
    with interrupts_deferred():
      manager = self.best_manager if best else self.latest_manager
      return manager.save(checkpoint_number=self._step())
