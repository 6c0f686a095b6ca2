"""What a run shows while it trains: TensorBoard summaries, the validation loss that picks
best/, and the progress bar."""

import math
import os
import time

import numpy as np
import tensorflow as tf

from tfquant import data


class Summaries:
  """TensorBoard events in train/: the step's metrics and PSNR, the learning rate, every
  quantizer's schedule values and, every `image_summary_every` steps, three originals beside
  their reconstructions. Only the chief writes."""

  def __init__(self, config, model, optimizer, image_batch, chief):
    self.config, self.model, self.optimizer = config, model, optimizer
    self.images = image_batch[:3] if image_batch is not None else None
    self.writer = (tf.summary.create_file_writer(os.path.join(config.train_dir, "train"))
                   if chief else tf.summary.create_noop_writer())

  def write(self, step, metrics):
    with self.writer.as_default(step=step):
      for name, value in metrics.items():
        tf.summary.scalar(name, value)
      tf.summary.scalar("psnr", 10 * math.log10(255**2 / max(metrics["mse"], 1e-10)))
      rate = self.optimizer.learning_rate
      tf.summary.scalar("learning_rate", rate(step) if callable(rate) else rate)
      for index, layer in enumerate(self.model.quantizer_layers):
        for name, value in layer.schedule_values(step).items():
          tf.summary.scalar(f"quantizer/{index}_{layer.canonical}/{name}", value)
      if self.images is not None and step % self.config.image_summary_every == 0:
        tf.summary.image("original_reconstruction", self._reconstructions(), max_outputs=3)

  def _reconstructions(self):
    x_hat = tf.clip_by_value(self.model(self.images, training=False)["x_hat"], 0.0, 1.0)
    return tf.concat([tf.cast(self.images, tf.float32), x_hat], axis=2)

  def scalar(self, name, value, step):
    with self.writer.as_default(step=step):
      tf.summary.scalar(name, value)

  def flush(self):
    self.writer.flush()


class Validation:
  """The mean loss (λ·MSE + bpp, hard rounding, the images whole) over `val_glob`'s images;
  `best_loss` (checkpointed) is the lowest so far. Only the chief validates."""

  def __init__(self, config, model, chief):
    self.model = model
    self.images = ([data.read_image(p) for p in data.image_paths(config.val_glob)]
                   if config.val_glob and chief else [])
    self.best_loss = tf.Variable(np.inf, dtype=tf.float32, trainable=False, name="best_loss")

  def __bool__(self):
    return bool(self.images)

  def loss(self):
    losses = [float(self.model(tf.constant(image[None], tf.float32) / 255.0,
                               training=False)["loss"]) for image in self.images]
    return float(np.mean(losses))

  def is_best(self, loss):
    """Whether `loss` is the lowest so far (then it is recorded as such)."""
    if loss >= float(self.best_loss.numpy()):
      return False
    self.best_loss.assign(loss)
    return True


class Progress:
  """A Keras progress bar with the loss, bpp, MSE and smoothed steps per second."""

  def __init__(self, steps):
    self.bar = tf.keras.utils.Progbar(steps, stateful_metrics=["steps/s"], unit_name="step")
    self.rate, self.last_time = None, time.perf_counter()

  def update(self, step, metrics):
    now = time.perf_counter()
    step_rate, self.last_time = 1.0 / max(now - self.last_time, 1e-9), now
    self.rate = step_rate if self.rate is None else 0.9 * self.rate + 0.1 * step_rate
    self.bar.update(step, [(name, metrics[name]) for name in ("loss", "bpp", "mse")] +
                    [("steps/s", self.rate)])
