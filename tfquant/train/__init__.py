"""Training with tf.distribute: schedules by global step, checkpoints, resume, TensorBoard.

A run directory holds::

    config.json          the resolved configuration (flags over config file over defaults)
    checkpoints/         the last `keep_checkpoints` checkpoints (model, optimizer, data position)
    best/                with --val_glob: the checkpoint with the lowest validation loss
    train/               TensorBoard events
    model/               the final model, finalized for range coding (`tfquant.models.load`)
    .lock                held while a process trains in it

Calling `train` again on the same directory resumes; `steps` is the total. Schedule positions
given as fractions (SGA's decay start, STH's switch, the learning-rate drop) are fractions of
the current total, so resuming with a larger `steps` stretches them. `load_model` also takes
a run's best/ or checkpoints/ckpt-N (every command's --model does).

  config.py    TrainConfig, config files
  run_dir.py   the directory's config, lock and checkpoints
  strategy.py  tf.distribute strategies, the chief, native bfloat16
  step.py      the compiled training steps (distributed; single-device `fit`)
  checkpoints.py  checkpoints/ and best/, resume
  monitor.py   summaries, validation, progress
  loop.py      Trainer: model, optimizer, data, and the loop over steps
"""

import contextlib
import os

from tfquant import data
from tfquant.train.config import (PRECISIONS, STRATEGIES, TrainConfig,
                                  config_overrides_as_set, load_config_file,
                                  load_python_config, resolve_config)
from tfquant.train.loop import Trainer, make_dataset
from tfquant.train.step import fit, make_train_step
from tfquant.train.strategy import is_chief, make_strategy, native_bfloat16, split_cpu
from tfquant.train.run_dir import (CONFIG_FILE, initial_checkpoint, load_model, lock,
                                   write_config)


def train(config, dataset_fn=None, progress=True):
  """Runs (or resumes) a whole training job and leaves a finalized model in the run dir."""
  for images in (config.train_glob, config.val_glob):
    if images:
      data.image_paths(images)  # raises before the run directory is touched
  chief = is_chief(make_strategy(config.strategy))
  with lock(config.train_dir) if chief else contextlib.nullcontext():
    changed = write_config(config)
    trainer = Trainer(config, dataset_fn)
    trainer.restore(changed)
    try:
      trainer.fit(progress=progress)
    except KeyboardInterrupt:
      latest = trainer.checkpoints.latest
      where = (f"the same command resumes from {os.path.basename(latest)}" if latest else
               "no checkpoint was written yet: the same command starts again")
      raise KeyboardInterrupt(f"interrupted at step {trainer.step}; {where}") from None
    trainer.export_final_model()
  return trainer


__all__ = ["CONFIG_FILE", "PRECISIONS", "STRATEGIES", "TrainConfig", "Trainer",
           "config_overrides_as_set", "fit",
           "initial_checkpoint", "is_chief", "load_config_file", "load_model",
           "load_python_config", "lock", "make_dataset", "make_strategy", "make_train_step",
           "native_bfloat16", "resolve_config", "split_cpu", "train", "write_config"]
