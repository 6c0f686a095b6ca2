"""The training loop: strategies, the distributed step, and `Trainer`, which owns the model,
optimizer and a run directory's checkpoints."""

import contextlib
import functools
import math
import os
import signal
import threading
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tfquant import data, models, quantizers
from tfquant.train import run_dir


@functools.lru_cache(maxsize=None)
def make_strategy(name):
  """The tf.distribute strategy by name; one per process (collectives allow no second one).

  For multi_worker, call this before any other TensorFlow op runs.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable.")
    return tf.distribute.MultiWorkerMirroredStrategy()
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, tf.errors.NotFoundError) as error:
    raise RuntimeError(f"--strategy=tpu: no TPU is reachable ({error}).") from None
  return tf.distribute.TPUStrategy(resolver)


def native_bfloat16():
  """Whether bfloat16 matrix arithmetic runs natively here: a GPU of compute capability 8 or
  more, or (Linux) a CPU whose flags list AVX-512 BF16 or AMX (x86) or BF16 (Arm)."""
  for gpu in tf.config.list_physical_devices("GPU"):
    if tf.config.experimental.get_device_details(gpu).get("compute_capability", (0,))[0] >= 8:
      return True
  try:
    with open("/proc/cpuinfo") as f:
      flags = set(f.read().split())
  except OSError:
    return False
  return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def split_cpu(num_devices):
  """Splits the host CPU into logical devices (to exercise mirrored training without GPUs).

  Must run before TensorFlow initializes its devices.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


# The settings make_dataset reads: a checkpoint's data position is only valid for the same ones.
DATA_SETTINGS = ("train_glob", "tfds_name", "tfds_split", "tfds_data_dir", "batch_size",
                 "patch_size", "seed")


def make_dataset(config, context):
  """One input pipeline's batches: per-replica batch size, crops seeded per pipeline."""
  batch_size = context.get_per_replica_batch_size(config.batch_size)
  seed = config.seed + context.input_pipeline_id
  if config.train_glob:
    return data.patch_dataset(data.image_paths(config.train_glob), config.patch_size,
                              batch_size, seed=seed)
  return data.tfds_patch_dataset(config.tfds_name, config.tfds_split, config.patch_size,
                                 batch_size, data_dir=config.tfds_data_dir, seed=seed)


def is_chief(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                           resolver.task_id == 0)



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


class Trainer:
  """Owns the model, optimizer, distributed step and the run directory's checkpoints.

  A step whose loss or gradients are not finite on any replica is skipped everywhere (it
  still counts as a step); in float32 explicitly, in mixed_float16 by the dynamic loss scale,
  which also lowers the scale. Checkpoints wait while such steps follow each other, so the
  newest one is the last good state. With `val_glob`, best/ holds the state with the lowest
  validation loss (hard rounding, the images whole).
  """

  def __init__(self, config, dataset_fn=None):
    """`dataset_fn(tf.distribute.InputContext)` returns per-replica batches (default: from
    `config`); the global batch is `config.batch_size`, split across replicas."""
    self.config = config
    self.strategy = make_strategy(config.strategy)
    self.chief = is_chief(self.strategy)
    if config.precision == "mixed_bfloat16" and not native_bfloat16():
      logging.warning("This machine has no native bfloat16 arithmetic (a CPU with AVX-512 "
                      "BF16 or AMX, or a GPU of compute capability 8 or more): "
                      "--precision=mixed_bfloat16 runs, emulated, slower than float32.")
    tf.random.set_seed(config.seed)
    with self.strategy.scope():
      self.model = models.create(config.arch, config.precision, **config.model_options())
      learning_rate = config.lr
      if config.lr_decay_fraction is not None:
        learning_rate = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
            [config.at(config.lr_decay_fraction)],
            [config.lr, config.lr * config.lr_decay_factor])
      self.optimizer = tf.keras.optimizers.Adam(learning_rate)
      if config.precision == "mixed_float16":
        self.optimizer = tf.keras.mixed_precision.LossScaleOptimizer(self.optimizer)
      self.optimizer.build(self.model.trainable_variables)  # not inside the step's branches
      self.best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_loss")
    self.dataset_fn = dataset_fn or functools.partial(make_dataset, config)
    if config.strategy == "default":
      self.iterator = iter(self.dataset_fn(tf.distribute.InputContext()))
    else:
      self.iterator = iter(self.strategy.distribute_datasets_from_function(self.dataset_fn))
    self.state = dict(model=self.model, optimizer=self.optimizer, best_loss=self.best_loss)
    if config.strategy == "default":
      self.state["data"] = self.iterator  # resume continues the same crops
    self.checkpoint = tf.train.Checkpoint(**self.state)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self._state_dir(run_dir.CHECKPOINTS_DIR), config.keep_checkpoints)
    self.best_manager = tf.train.CheckpointManager(
        self.checkpoint, self._state_dir(run_dir.BEST_DIR), 1)
    self.validation_images = ([data.read_image(p) for p in data.image_paths(config.val_glob)]
                              if config.val_glob and self.chief else [])
    self.encoder_variables = {v.ref() for v in self.model.encoder_variables}
    self.hard_switches = [q for q in self.model.quantizer_layers
                          if isinstance(q, quantizers.SoftToHard)]
    self._steps = {}

  def _state_dir(self, name):
    """Chief writes into the run directory; other workers into throw-away directories."""
    if self.chief:
      return os.path.join(self.config.train_dir, name)
    return tempfile.mkdtemp(prefix=f"tfquant-worker-{name}-")

  @property
  def step(self):
    return int(self.optimizer.iterations.numpy())

  def restore(self, changed=()):
    """Resumes from the newest checkpoint; returns the step it resumed at (0 if none).

    The configuration wins over the checkpoint: the learning rate is the config's, and if a
    setting of the input pipeline is among `changed` (`write_config`'s answer) the crops
    start afresh instead of where the checkpoint's pipeline stopped, which could not go on
    with another batch or crop size. A fresh run with `init_from` starts from that
    checkpoint's (or saved model's, zoo:NAME included) model weights, not its optimizer, step
    or data position: a fine-tune to another λ or quantizer pair.
    """
    new_data = [name for name in DATA_SETTINGS if name in changed]
    path = self.manager.latest_checkpoint
    if path and new_data and "data" in self.state:
      without_data = {k: v for k, v in self.state.items() if k != "data"}
      tf.train.Checkpoint(**without_data).read(path).expect_partial()
      logging.info("Resumed from %s at step %d; the crops start afresh (%s changed).", path,
                   self.step, ", ".join(new_data))
    elif path:
      self.checkpoint.restore(path)
      logging.info("Resumed from %s at step %d.", path, self.step)
    elif self.config.init_from and models.saved_directory(self.config.init_from):
      models.read_weights(self.model, self.config.init_from)
      logging.info("Started from the weights of the saved model %s.", self.config.init_from)
    elif self.config.init_from:
      source = run_dir.initial_checkpoint(self.config.init_from)
      tf.train.Checkpoint(model=self.model).read(source).expect_partial()
      logging.info("Started from the weights of %s.", source)
    if self.config.lr_decay_fraction is None:  # a schedule is built from the config already
      self.optimizer.learning_rate = self.config.lr
    return self.step

  def _train_step(self, freeze_encoder):
    """The compiled distributed step; traced once per `freeze_encoder` value."""
    if freeze_encoder in self._steps:
      return self._steps[freeze_encoder]
    model, optimizer, strategy = self.model, self.optimizer, self.strategy
    scaled = isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    variables = [v for v in model.trainable_variables
                 if not (freeze_encoder and v.ref() in self.encoder_variables)]

    @tf.autograph.experimental.do_not_convert  # see make_train_step
    def replica_gradients(x):
      with tf.GradientTape() as tape:
        result = model(x, training=True, step=optimizer.iterations)
        loss = result["loss"] / strategy.num_replicas_in_sync
        loss = optimizer.get_scaled_loss(loss) if scaled else loss
      grads = tape.gradient(loss, variables)
      grads = optimizer.get_unscaled_gradients(grads) if scaled else grads
      finite = tf.stack([tf.math.is_finite(result["loss"]), tf.reduce_all(
          [tf.reduce_all(tf.math.is_finite(grad)) for grad in grads])])
      failures = tf.distribute.get_replica_context().all_reduce(
          "SUM", 1.0 - tf.cast(finite, tf.float32))
      return {k: result[k] for k in ("loss", "bpp", "mse")}, grads, failures == 0

    def apply(grads):
      optimizer.apply_gradients(zip(grads, variables))

    @tf.function
    def distributed_step(iterator):
      metrics, grads, finite = strategy.run(replica_gradients, args=(next(iterator),))
      metrics = {k: strategy.reduce("MEAN", v, axis=None) for k, v in metrics.items()}
      finite = strategy.experimental_local_results(finite)[0]  # [loss, gradients], all replicas
      if scaled or tf.reduce_all(finite):  # the loss scale skips (and rescales) by itself
        strategy.run(apply, args=(grads,))
      else:
        optimizer.iterations.assign_add(1)
      return metrics, finite

    self._steps[freeze_encoder] = distributed_step
    return distributed_step

  def validation_loss(self):
    """Mean loss (λ·MSE + bpp, hard rounding) over the validation images."""
    losses = [float(self.model(tf.constant(image[None], tf.float32) / 255.0,
                               training=False)["loss"]) for image in self.validation_images]
    return float(np.mean(losses))

  def _write_summaries(self, writer, step, metrics, images):
    with writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(name, value)
      tf.summary.scalar("psnr", 10 * math.log10(255**2 / max(metrics["mse"], 1e-10)))
      rate = self.optimizer.learning_rate
      tf.summary.scalar("learning_rate", rate(step) if callable(rate) else rate)
      for index, layer in enumerate(self.model.quantizer_layers):
        for name, value in layer.schedule_values(step).items():
          tf.summary.scalar(f"quantizer/{index}_{layer.canonical}/{name}", value)
      if images is not None:
        tf.summary.image("original_reconstruction", images, max_outputs=3)

  def _reconstructions(self, batch):
    x = batch[:3]
    x_hat = tf.clip_by_value(self.model(x, training=False)["x_hat"], 0.0, 1.0)
    return tf.concat([tf.cast(x, tf.float32), x_hat], axis=2)

  def _save(self, manager):
    for variable in self.model.variables:
      if variable.dtype.is_floating and not np.all(np.isfinite(variable.numpy())):
        raise FloatingPointError(
            f"Not saving: variable {variable.name} is not finite at step {self.step}.")
    with interrupts_deferred():
      return manager.save(checkpoint_number=self.step)

  def _validate(self, writer, step):
    loss = self.validation_loss()
    with writer.as_default(step=step):
      tf.summary.scalar("validation/loss", loss)
    if loss < float(self.best_loss.numpy()):
      self.best_loss.assign(loss)
      self._save(self.best_manager)
      logging.info("Step %d: validation loss %.5g, the best so far (saved in best/).", step, loss)

  def _stop_message(self, nonfinite, step):
    latest = self.manager.latest_checkpoint
    where = (f"The last good checkpoint is {latest}." if latest else
             "No checkpoint had been written yet.")
    return (f"{nonfinite} consecutive non-finite steps at step {step}: stopping. {where} "
            "Try a lower --lr.")

  def fit(self, progress=True):
    """Trains until `config.steps`; returns the history of per-step metrics (floats)."""
    config = self.config
    writer = (tf.summary.create_file_writer(os.path.join(config.train_dir, "train"))
              if self.chief else tf.summary.create_noop_writer())
    bar = (tf.keras.utils.Progbar(config.steps, stateful_metrics=["steps/s"], unit_name="step")
           if progress and self.chief else None)
    image_batch = (next(iter(self.dataset_fn(tf.distribute.InputContext())))
                   if self.chief else None)
    val_every = config.val_every or config.checkpoint_every
    history, nonfinite, checkpoint_due = [], 0, False
    rate, last_time = None, time.perf_counter()
    while self.step < config.steps:
      freeze = any(bool(q.is_hard(self.step)) for q in self.hard_switches)
      metrics, finite = self._train_step(freeze)(self.iterator)
      metrics = {k: float(v) for k, v in metrics.items()}
      loss_finite, applied = bool(finite[0]), bool(finite[0] and finite[1])
      step = self.step  # skipped updates count as steps, as in Keras' loss-scale optimizer
      if applied:
        nonfinite = 0
        history.append(metrics)
      elif loss_finite and config.precision == "mixed_float16":
        logging.info("Step %d: float16 gradient overflow; loss scale lowered.", step)
      else:
        nonfinite += 1
        logging.warning("Step %d: non-finite loss or gradients; update skipped.", step)
        if nonfinite >= config.max_nonfinite_steps:
          raise FloatingPointError(self._stop_message(nonfinite, step))
      if applied and (step % config.summary_every == 0 or step == config.steps):
        images = (self._reconstructions(image_batch)
                  if self.chief and step % config.image_summary_every == 0 else None)
        self._write_summaries(writer, step, metrics, images)
      if self.validation_images and (step % val_every == 0 or step == config.steps):
        self._validate(writer, step)
      checkpoint_due |= step % config.checkpoint_every == 0 or step == config.steps
      if checkpoint_due and (nonfinite == 0 or step == config.steps):
        self._save(self.manager)
        checkpoint_due = False
      now = time.perf_counter()
      step_rate, last_time = 1.0 / max(now - last_time, 1e-9), now
      rate = step_rate if rate is None else 0.9 * rate + 0.1 * step_rate  # smoothed steps/s
      if bar is not None:
        bar.update(step, [("loss", metrics["loss"]), ("bpp", metrics["bpp"]),
                          ("mse", metrics["mse"]), ("steps/s", rate)])
    writer.flush()
    return history

  def export_final_model(self):
    """Finalizes the coding tables and saves the model to `train_dir/model`."""
    self.model.finalize()
    if self.chief:
      models.save(self.model, os.path.join(self.config.train_dir, models.RUN_MODEL_DIR))


def make_train_step(model, optimizer):
  """A compiled single-device step, for quick experiments (`fit`) and benchmarks."""
  optimizer.build(model.trainable_variables)  # slots made inside the step would trace it twice

  # The model's control flow is Python's (on settings, never on tensors): AutoGraph would only
  # re-transpile every layer's source at each trace, half the tracing time.
  @tf.function(autograph=False)
  def train_step(x):
    with tf.GradientTape() as tape:
      result = model(x, training=True, step=optimizer.iterations)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(result["loss"], variables), variables))
    return {name: result[name] for name in ("loss", "bpp", "mse")}

  return train_step


def fit(model, dataset, steps, learning_rate=1e-4, optimizer=None):
  """Trains `model` for `steps` batches on one device; returns the per-step metrics."""
  optimizer = optimizer or tf.keras.optimizers.Adam(learning_rate)
  train_step = make_train_step(model, optimizer)
  return [{k: float(v) for k, v in train_step(x).items()} for x in dataset.take(steps)]
