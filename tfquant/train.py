"""Training: one optimisation step, and a plain loop over a dataset."""

import tensorflow as tf

METRICS = ("loss", "bpp", "mse")


def make_train_step(model, optimizer):
  """A compiled step: forward with the quantizers' training approximations, Adam update.

  The optimizer's iteration count is the global step that drives quantizer schedules.
  """

  @tf.function
  def train_step(x):
    with tf.GradientTape() as tape:
      result = model(x, training=True, step=optimizer.iterations)
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(result["loss"], variables), variables))
    return {name: result[name] for name in METRICS}

  return train_step


def fit(model, dataset, steps, learning_rate=1e-4, optimizer=None):
  """Trains for `steps` batches of `dataset`; returns the per-step metrics as floats."""
  optimizer = optimizer or tf.keras.optimizers.Adam(learning_rate)
  train_step = make_train_step(model, optimizer)
  history = []
  for x in dataset.take(steps):
    history.append({k: float(v) for k, v in train_step(x).items()})
  return history
