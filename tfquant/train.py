"""Training with tf.distribute: schedules by global step, checkpoints, resume, TensorBoard.

A run directory holds::

    config.json          the resolved configuration (flags over config file over defaults)
    checkpoints/         the last `keep_checkpoints` checkpoints (model, optimizer, data position)
    best/                the checkpoint with the lowest mean training loss over an interval
    train/               TensorBoard events
    model/               the final model, finalized for range coding (`tfquant.models.load`)

Calling `train` again on the same directory resumes; `steps` is the total. Schedule positions
given as fractions (SGA's decay start, STH's switch, the learning-rate drop) are fractions of
the current total, so resuming with a larger `steps` stretches them.
"""

import dataclasses
import functools
import importlib.util
import json
import math
import os
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf
from absl import logging

from tfquant import data, models, quantizers

CONFIG_FILE = "config.json"
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_float16")


@dataclasses.dataclass
class TrainConfig:
  """Everything a run depends on. Fractions are of `steps` and resolved at start."""
  arch: str = "balle2018"
  ent_quant: str = "noise"
  dec_quant: str = None  # defaults to ent_quant
  z_ent_quant: str = None  # defaults to ent_quant
  z_dec_quant: str = None  # defaults to dec_quant
  quantizer_params: dict = dataclasses.field(default_factory=dict)  # {name: {param: value}}
  lmbda: float = 0.01
  num_filters: int = 128
  latent_filters: int = None
  context: str = None  # minnen2018 / cheng2020: "none", "serial" or "checkerboard"
  arch_options: dict = dataclasses.field(default_factory=dict)
  train_glob: str = None
  tfds_name: str = None
  tfds_split: str = "train"
  tfds_data_dir: str = None
  batch_size: int = 8  # global, split across replicas
  patch_size: int = 256
  steps: int = 1000000
  lr: float = 1e-4
  lr_decay_fraction: float = None  # lr × lr_decay_factor from this fraction of steps on
  lr_decay_factor: float = 0.1
  sga_decay: float = 3e-4
  sga_decay_start_fraction: float = 0.997
  sth_switch_fraction: float = 0.96
  strategy: str = "default"
  precision: str = "float32"
  seed: int = 0
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  summary_every: int = 100
  image_summary_every: int = 1000
  max_nonfinite_steps: int = 20
  train_dir: str = None
  init_from: str = None  # a run directory or checkpoint: starting weights for a fresh run

  def validate(self):
    """Raises ValueError naming every problem, before any work is done."""
    problems = []
    if self.arch not in models.names():
      problems.append(f"--arch={self.arch!r} is not one of {models.names()}")
    for field in ("ent_quant", "dec_quant", "z_ent_quant", "z_dec_quant"):
      value = getattr(self, field)
      if value is not None:
        try:
          quantizers.canonical_name(value)
        except ValueError as error:
          problems.append(f"--{field}: {error}")
    for name in self.quantizer_params:
      try:
        quantizers.canonical_name(name)
      except ValueError:
        problems.append(f"quantizer_params names unknown quantizer {name!r}")
    if self.strategy not in STRATEGIES:
      problems.append(f"--strategy={self.strategy!r} is not one of {STRATEGIES}")
    if self.precision not in PRECISIONS:
      problems.append(f"--precision={self.precision!r} is not one of {PRECISIONS}")
    if (self.train_glob is None) == (self.tfds_name is None):
      problems.append("give exactly one of --train_glob and --tfds_name")
    if not self.train_dir:
      problems.append("--train_dir is required")
    for field in ("steps", "batch_size", "patch_size", "num_filters", "checkpoint_every",
                  "keep_checkpoints", "summary_every", "image_summary_every"):
      if getattr(self, field) < 1:
        problems.append(f"--{field} must be positive, got {getattr(self, field)}")
    if self.lmbda <= 0 or self.lr <= 0:
      problems.append("--lmbda and --lr must be positive")
    for field in ("lr_decay_fraction", "sga_decay_start_fraction", "sth_switch_fraction"):
      value = getattr(self, field)
      if value is not None and not 0 <= value <= 1:
        problems.append(f"{field} must be within [0, 1], got {value}")
    if self.init_from is not None:
      try:
        initial_checkpoint(self.init_from)
      except ValueError as error:
        problems.append(str(error))
    if problems:
      raise ValueError("Invalid training configuration:\n  " + "\n  ".join(problems))
    return self

  def at(self, fraction):
    return int(round(fraction * self.steps))

  def quantizer_spec(self, name):
    """Name plus parameters: the step-dependent defaults, then `quantizer_params`."""
    if name is None:
      return None
    canonical = quantizers.canonical_name(name)
    params = {
        "sga": {"decay": self.sga_decay, "decay_start": self.at(self.sga_decay_start_fraction)},
        "sth": {"switch_step": self.at(self.sth_switch_fraction)},
    }.get(canonical, {})
    params.update(self.quantizer_params.get(canonical, {}))
    return {"name": canonical, **params}

  def model_options(self):
    options = dict(num_filters=self.num_filters, lmbda=self.lmbda, **self.arch_options)
    if self.latent_filters is not None:
      options["latent_filters"] = self.latent_filters
    if self.context is not None:
      options["context"] = self.context
    dec = self.dec_quant or self.ent_quant
    options.update(ent_quant=self.quantizer_spec(self.ent_quant),
                   dec_quant=self.quantizer_spec(dec))
    if self.arch != "balle2017":
      options.update(z_ent_quant=self.quantizer_spec(self.z_ent_quant or self.ent_quant),
                     z_dec_quant=self.quantizer_spec(self.z_dec_quant or dec))
    return options


def load_python_config(path, variable):
  """Runs a Python config file and returns its `variable` (a dict).

  The file's folder is importable while it runs, so configs can share settings.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Config file {path!r} not found.")
  spec = importlib.util.spec_from_file_location(f"tfquant_{variable.lower()}", path)
  module = importlib.util.module_from_spec(spec)
  sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
  try:
    spec.loader.exec_module(module)
  finally:
    sys.path.pop(0)
  if not isinstance(getattr(module, variable, None), dict):
    raise ValueError(f"{path} must define a dict named {variable}.")
  return dict(getattr(module, variable))


def load_config_file(path):
  """A training config file defines `CONFIG`, a dict of `TrainConfig` fields."""
  return load_python_config(path, "CONFIG")


def resolve_config(config_file=None, overrides=None):
  """Defaults, then the config file, then `overrides` (e.g. flags the user set)."""
  values = load_config_file(config_file) if config_file else {}
  values.update(overrides or {})
  names = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = set(values) - names
  if unknown:
    raise ValueError(f"Unknown configuration keys: {sorted(unknown)}.")
  return TrainConfig(**values).validate()


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


def split_cpu(num_devices):
  """Splits the host CPU into logical devices (to exercise mirrored training without GPUs).

  Must run before TensorFlow initializes its devices.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])


def make_dataset(config, context):
  """One input pipeline's batches: per-replica batch size, crops seeded per pipeline."""
  batch_size = context.get_per_replica_batch_size(config.batch_size)
  seed = config.seed + context.input_pipeline_id
  if config.train_glob:
    return data.patch_dataset(data.image_paths(config.train_glob), config.patch_size,
                              batch_size, seed=seed)
  return data.tfds_patch_dataset(config.tfds_name, config.tfds_split, config.patch_size,
                                 batch_size, data_dir=config.tfds_data_dir, seed=seed)


def _is_chief(strategy):
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                           resolver.task_id == 0)


class Trainer:
  """Owns the model, optimizer, distributed step and the run directory's state."""

  def __init__(self, config, dataset_fn=None):
    """`dataset_fn(tf.distribute.InputContext)` returns per-replica batches (default: from
    `config`); the global batch is `config.batch_size`, split across replicas."""
    self.config = config
    self.strategy = make_strategy(config.strategy)
    self.chief = _is_chief(self.strategy)
    tf.keras.mixed_precision.set_global_policy(config.precision)
    tf.random.set_seed(config.seed)
    with self.strategy.scope():
      self.model = models.create(config.arch, **config.model_options())
      learning_rate = config.lr
      if config.lr_decay_fraction is not None:
        learning_rate = tf.keras.optimizers.schedules.PiecewiseConstantDecay(
            [config.at(config.lr_decay_fraction)],
            [config.lr, config.lr * config.lr_decay_factor])
      # The loss-scale optimizer skips updates with non-finite gradients on every replica at
      # once; float32 needs no scaling, so it starts at 1 (powers of two scale exactly).
      self.optimizer = tf.keras.mixed_precision.LossScaleOptimizer(
          tf.keras.optimizers.Adam(learning_rate),
          initial_scale=2.0**15 if config.precision == "mixed_float16" else 1.0)
      self.best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_loss")
    self.dataset_fn = dataset_fn or functools.partial(make_dataset, config)
    if config.strategy == "default":
      self.iterator = iter(self.dataset_fn(tf.distribute.InputContext()))
    else:
      self.iterator = iter(self.strategy.distribute_datasets_from_function(self.dataset_fn))
    state = dict(model=self.model, optimizer=self.optimizer, best_loss=self.best_loss)
    if config.strategy == "default":
      state["data"] = self.iterator  # resume continues the same crops
    self.checkpoint = tf.train.Checkpoint(**state)
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, self._state_dir("checkpoints"), config.keep_checkpoints)
    self.best_manager = tf.train.CheckpointManager(self.checkpoint, self._state_dir("best"), 1)
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

  def restore(self):
    """Resumes from the newest checkpoint; returns the step it resumed at (0 if none).

    A fresh run with `init_from` starts from that checkpoint's model weights (not its
    optimizer, step or data position): a fine-tune to another λ or quantizer pair.
    """
    path = self.manager.restore_or_initialize()
    if path:
      logging.info("Resumed from %s at step %d.", path, self.step)
    elif self.config.init_from:
      source = initial_checkpoint(self.config.init_from)
      tf.train.Checkpoint(model=self.model).read(source).expect_partial()
      logging.info("Started from the weights of %s.", source)
    return self.step

  def _train_step(self, freeze_encoder):
    """The compiled distributed step; traced once per `freeze_encoder` value."""
    if freeze_encoder in self._steps:
      return self._steps[freeze_encoder]
    model, optimizer, strategy = self.model, self.optimizer, self.strategy
    variables = [v for v in model.trainable_variables
                 if not (freeze_encoder and v.ref() in self.encoder_variables)]

    def replica_step(x):
      with tf.GradientTape() as tape:
        result = model(x, training=True, step=optimizer.iterations)
        loss = optimizer.get_scaled_loss(result["loss"] / strategy.num_replicas_in_sync)
      grads = optimizer.get_unscaled_gradients(tape.gradient(loss, variables))
      finite = tf.stack([tf.math.is_finite(result["loss"]), tf.reduce_all(
          [tf.reduce_all(tf.math.is_finite(grad)) for grad in grads])])
      failures = tf.distribute.get_replica_context().all_reduce(
          "SUM", 1.0 - tf.cast(finite, tf.float32))
      optimizer.apply_gradients(zip(grads, variables))  # skipped when not finite
      return {k: result[k] for k in ("loss", "bpp", "mse")}, failures == 0

    @tf.function
    def distributed_step(iterator):
      metrics, finite = strategy.run(replica_step, args=(next(iterator),))
      metrics = {k: strategy.reduce("MEAN", v, axis=None) for k, v in metrics.items()}
      return metrics, strategy.experimental_local_results(finite)[0]  # [loss, gradients]

    self._steps[freeze_encoder] = distributed_step
    return distributed_step

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
    return manager.save(checkpoint_number=self.step)

  def fit(self, progress=True):
    """Trains until `config.steps`; returns the history of per-step metrics (floats)."""
    config = self.config
    writer = (tf.summary.create_file_writer(os.path.join(config.train_dir, "train"))
              if self.chief else tf.summary.create_noop_writer())
    bar = (tf.keras.utils.Progbar(config.steps, stateful_metrics=["steps/s"], unit_name="step")
           if progress and self.chief else None)
    image_batch = (next(iter(self.dataset_fn(tf.distribute.InputContext())))
                   if self.chief else None)
    history, interval_losses, nonfinite = [], [], 0
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
        interval_losses.append(metrics["loss"])
      elif loss_finite and config.precision == "mixed_float16":
        logging.info("Step %d: float16 gradient overflow; loss scale lowered.", step)
      else:
        nonfinite += 1
        logging.warning("Step %d: non-finite loss or gradients; update skipped.", step)
        if nonfinite >= config.max_nonfinite_steps:
          raise FloatingPointError(
              f"{nonfinite} consecutive non-finite steps at step {step}: stopping. The last "
              f"good checkpoint is in {self.manager.directory}. Try a lower --lr.")
      if applied and (step % config.summary_every == 0 or step == config.steps):
        images = (self._reconstructions(image_batch)
                  if self.chief and step % config.image_summary_every == 0 else None)
        self._write_summaries(writer, step, metrics, images)
      if step % config.checkpoint_every == 0 or step == config.steps:
        if interval_losses and np.mean(interval_losses) < float(self.best_loss.numpy()):
          self.best_loss.assign(np.mean(interval_losses))
          self._save(self.best_manager)
        interval_losses = []
        self._save(self.manager)
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


def initial_checkpoint(path):
  """The checkpoint prefix that `path` names: a checkpoint prefix itself, a checkpoints
  directory, or a run directory (its newest checkpoint)."""
  for directory in (path, os.path.join(path, "checkpoints")):
    if tf.io.gfile.isdir(directory):
      latest = tf.train.latest_checkpoint(directory)
      if latest:
        return latest
  if tf.io.gfile.exists(path + ".index"):
    return path
  raise ValueError(f"--init_from={path!r} names no checkpoint (a run directory, its "
                   "checkpoints/ directory or a checkpoint prefix such as .../ckpt-2000).")


def write_config(config):
  os.makedirs(config.train_dir, exist_ok=True)
  path = os.path.join(config.train_dir, CONFIG_FILE)
  resolved = dataclasses.asdict(config)
  resolved["resolved_model_options"] = config.model_options()
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    changed = {k for k in ("arch", "num_filters", "latent_filters", "context", "ent_quant",
                           "dec_quant", "z_ent_quant", "z_dec_quant", "lmbda", "arch_options")
               if previous.get(k) != resolved.get(k)}
    if changed:
      raise ValueError(f"{config.train_dir} holds a run with different {sorted(changed)}; "
                       "use another --train_dir.")
  with open(path, "w") as f:
    json.dump(resolved, f, indent=2, sort_keys=True)


def train(config, dataset_fn=None, progress=True):
  """Runs (or resumes) a whole training job and leaves a finalized model in the run dir."""
  write_config(config)
  trainer = Trainer(config, dataset_fn)
  trainer.restore()
  trainer.fit(progress=progress)
  trainer.export_final_model()
  return trainer


def make_train_step(model, optimizer):
  """A compiled single-device step, for quick experiments (`fit`) and benchmarks."""

  @tf.function
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
