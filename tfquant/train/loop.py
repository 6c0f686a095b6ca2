"""`Trainer`: builds a run's model, optimizer and input pipeline, and trains them step by
step with its collaborators (checkpoints, summaries, validation, progress)."""

import functools
import os

import tensorflow as tf
from absl import logging

from tfquant import data, models, quantizers
from tfquant.train import checkpoints, monitor, step, strategy as strategies


def make_dataset(config, context):
  """One input pipeline's batches: per-replica batch size, crops seeded per pipeline."""
  batch_size = context.get_per_replica_batch_size(config.batch_size)
  seed = config.seed + context.input_pipeline_id
  if config.train_glob:
    return data.patch_dataset(data.image_paths(config.train_glob), config.patch_size,
                              batch_size, seed=seed, random_downscale=config.random_downscale)
  return data.tfds_patch_dataset(config.tfds_name, config.tfds_split, config.patch_size,
                                 batch_size, data_dir=config.tfds_data_dir, seed=seed,
                                 random_downscale=config.random_downscale)


def make_optimizer(config):
  """Adam at `lr`, dropped ×`lr_decay_factor` from `lr_decay_fraction` of the run on;
  under mixed_float16, wrapped in a dynamic loss scale."""
  learning_rate = config.lr
  if config.lr_decay_fraction is not None:
    learning_rate = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
        [config.at(config.lr_decay_fraction)], [config.lr, config.lr * config.lr_decay_factor])
  optimizer = tf.keras.optimizers.Adam(learning_rate)
  if config.precision == "mixed_float16":
    optimizer = tf.keras.mixed_precision.LossScaleOptimizer(optimizer)
  return optimizer


class Trainer:
  """Trains `config`'s model in its run directory, resumably.

  A step whose loss or gradients are not finite on any replica is skipped everywhere (it
  still counts as a step, see `step.distributed_step`); `max_nonfinite_steps` of them in a
  row stop the run. Checkpoints wait while such steps follow each other, so the newest one is
  the last good state. With `val_glob`, best/ holds the state with the lowest validation loss.
  """

  def __init__(self, config, dataset_fn=None):
    """`dataset_fn(tf.distribute.InputContext)` returns per-replica batches (default: from
    `config`); the global batch is `config.batch_size`, split across replicas."""
    self.config = config
    self.strategy = strategies.make_strategy(config.strategy)
    self.chief = strategies.is_chief(self.strategy)
    self.precision = strategies.resolve_precision(config.precision)
    if config.precision == "auto":
      logging.info("--precision=auto: %s here.", self.precision)
    elif config.precision == "mixed_bfloat16" and not strategies.native_bfloat16():
      logging.warning("This machine has no native bfloat16 arithmetic (a CPU with AVX-512 "
                      "BF16 or AMX, or a GPU of compute capability 8 or more): "
                      "--precision=mixed_bfloat16 runs, emulated, slower than float32 "
                      "(--precision=auto chooses float32 here).")
    tf.random.set_seed(config.seed)
    with self.strategy.scope():
      self.model = models.create(config.arch, self.precision, **config.model_options())
      self.optimizer = make_optimizer(config)
      self.optimizer.build(self.model.trainable_variables)  # not inside the step's branches
      self.validation = monitor.Validation(config, self.model, self.chief)
    self.dataset_fn = dataset_fn or functools.partial(make_dataset, config)
    if config.strategy == "default":
      self.iterator = iter(self.dataset_fn(tf.distribute.InputContext()))
    else:
      self.iterator = iter(self.strategy.distribute_datasets_from_function(self.dataset_fn))
    state = dict(model=self.model, optimizer=self.optimizer,
                 best_loss=self.validation.best_loss)
    if config.strategy == "default":
      state["data"] = self.iterator  # resume continues the same crops
    self.checkpoints = checkpoints.Checkpoints(config, state, self.chief)
    self.encoder_variables = {v.ref() for v in self.model.encoder_variables}
    self.hard_switches = [q for q in self.model.quantizer_layers
                          if isinstance(q, quantizers.SoftToHard)]
    self._steps = {}

  @property
  def step(self):
    return int(self.optimizer.iterations.numpy())

  def restore(self, changed=()):
    """Resumes from the newest checkpoint (see `Checkpoints.restore`); returns its step (0 if
    none). The configuration wins over the checkpoint: the learning rate is the config's."""
    self.checkpoints.restore(changed)
    if self.config.lr_decay_fraction is None:  # a schedule is built from the config already
      self.optimizer.learning_rate = self.config.lr
    return self.step

  def _train_step(self, freeze_encoder):
    """The compiled step; one per `freeze_encoder` value (STH-Q's hard phase trains only the
    decoder)."""
    if freeze_encoder not in self._steps:
      variables = [v for v in self.model.trainable_variables
                   if not (freeze_encoder and v.ref() in self.encoder_variables)]
      self._steps[freeze_encoder] = step.distributed_step(
          self.model, self.optimizer, self.strategy, variables, self.config.training_lmbdas,
          self.config.lmbda_balance)
    return self._steps[freeze_encoder]

  def _stop_message(self, nonfinite, at_step):
    latest = self.checkpoints.latest
    where = (f"The last good checkpoint is {latest}." if latest else
             "No checkpoint had been written yet.")
    return (f"{nonfinite} consecutive non-finite steps at step {at_step}: stopping. {where} "
            "Try a lower --lr.")

  def fit(self, progress=True):
    """Trains until `config.steps`; returns the history of per-step metrics (floats)."""
    config = self.config
    image_batch = (next(iter(self.dataset_fn(tf.distribute.InputContext())))
                   if self.chief else None)
    summaries = monitor.Summaries(config, self.model, self.optimizer, image_batch, self.chief)
    bar = monitor.Progress(config.steps) if progress and self.chief else None
    val_every = config.val_every or config.checkpoint_every
    history, nonfinite, checkpoint_due = [], 0, False
    while self.step < config.steps:
      freeze = any(bool(q.is_hard(self.step)) for q in self.hard_switches)
      metrics, finite = self._train_step(freeze)(self.iterator)
      metrics = {k: float(v) for k, v in metrics.items()}
      loss_finite, applied = bool(finite[0]), bool(finite[0] and finite[1])
      at = self.step  # skipped updates count as steps, as in Keras' loss-scale optimizer
      if applied:
        nonfinite = 0
        history.append(metrics)
      elif loss_finite and config.precision == "mixed_float16":
        logging.info("Step %d: float16 gradient overflow; loss scale lowered.", at)
      else:
        nonfinite += 1
        logging.warning("Step %d: non-finite loss or gradients; update skipped.", at)
        if nonfinite >= config.max_nonfinite_steps:
          raise FloatingPointError(self._stop_message(nonfinite, at))
      last = at == config.steps
      if applied and (at % config.summary_every == 0 or last):
        summaries.write(at, metrics)
      if self.validation and (at % val_every == 0 or last):
        self._validate(summaries, at)
      checkpoint_due |= at % config.checkpoint_every == 0 or last
      if checkpoint_due and (nonfinite == 0 or last):
        self.checkpoints.save()
        checkpoint_due = False
      if bar is not None:
        bar.update(at, metrics)
    summaries.flush()
    return history

  def _validate(self, summaries, at):
    loss = self.validation.loss()
    summaries.scalar("validation/loss", loss, at)
    if self.validation.is_best(loss):
      self.checkpoints.save(best=True)
      logging.info("Step %d: validation loss %.5g, the best so far (saved in best/).", at, loss)

  def export_final_model(self):
    """Finalizes the coding tables and saves the model to `train_dir/model`."""
    self.model.finalize()
    if self.chief:
      models.save(self.model, os.path.join(self.config.train_dir, models.RUN_MODEL_DIR))
