"""The compiled training steps: the distributed one `Trainer` runs, which skips non-finite
updates on every replica, and a single-device one for quick experiments and benchmarks."""

import tensorflow as tf


def distributed_step(model, optimizer, strategy, variables, lmbdas=None, lmbda_balance=0.0):
  """A compiled step over `strategy`'s replicas that trains `variables` (a variable-rate model
  at λ drawn per example from `lmbdas`, or by default log-uniformly over its range, its
  examples weighted as `lmbda_balance` says: `objective`).

  It takes the distributed iterator and returns the replica-mean metrics (loss, bpp, mse)
  and [loss finite, gradients finite] on every replica. A step that is not finite is skipped
  everywhere (it still counts as a step): in float32 explicitly, in mixed_float16 by the
  dynamic loss scale, which also lowers the scale.
  """
  scaled = isinstance(optimizer, tf.keras.mixed_precision.LossScaleOptimizer)

  @tf.autograph.experimental.do_not_convert  # see make_train_step
  def replica_gradients(x):
    lmbda = None
    if lmbdas is not None:
      lmbda = tf.gather(lmbdas, tf.random.uniform([tf.shape(x)[0]], 0, len(lmbdas), tf.int32))
    with tf.GradientTape() as tape:
      result = model(x, training=True, step=optimizer.iterations, lmbda=lmbda)
      loss = objective(result, lmbda_balance) / strategy.num_replicas_in_sync
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
  def step(iterator):
    metrics, grads, finite = strategy.run(replica_gradients, args=(next(iterator),))
    metrics = {k: strategy.reduce("MEAN", v, axis=None) for k, v in metrics.items()}
    finite = strategy.experimental_local_results(finite)[0]  # [loss, gradients], all replicas
    if scaled or tf.reduce_all(finite):  # the loss scale skips (and rescales) by itself
      strategy.run(apply, args=(grads,))
    else:
      optimizer.iterations.assign_add(1)
    return metrics, finite

  return step


def objective(result, lmbda_balance=0.0):
  """What a step minimizes of a model's `result`: its loss, of the same value at every
  `lmbda_balance`, with each example's gradient (a variable-rate model's result holds its
  loss per example) weighted by (the batch's mean loss / its own)^lmbda_balance."""
  if not lmbda_balance:
    return result["loss"]
  per_image = result["loss_per_image"]
  weights = tf.stop_gradient((result["loss"] / per_image) ** lmbda_balance)
  weights *= tf.stop_gradient(result["loss"] / tf.reduce_mean(weights * per_image))
  return tf.reduce_mean(weights * per_image)


def make_train_step(model, optimizer):
  """A compiled single-device step, for quick experiments (`fit`) and benchmarks; `optimizer`
  is a Keras optimizer, new or legacy."""
  # Slots made inside the step would trace it twice.
  if isinstance(optimizer, tf.keras.optimizers.legacy.Optimizer):
    optimizer._create_all_weights(model.trainable_variables)  # pylint: disable=protected-access
  else:
    optimizer.build(model.trainable_variables)

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
  """Trains `model` for `steps` batches on one device (with Adam, or `optimizer`); returns the
  per-step metrics."""
  optimizer = optimizer or tf.keras.optimizers.Adam(learning_rate)
  train_step = make_train_step(model, optimizer)
  return [{k: float(v) for k, v in train_step(x).items()} for x in dataset.take(steps)]
