"""Differentiable approximations of uniform scalar quantization, one Keras layer each.

Every layer is called as ``q(y, offset=None, training=..., step=None)``:

* ``offset`` (the median or predicted mean) is subtracted before rounding and added back;
* ``training=False`` always gives hard rounding ``round(y - offset) + offset``;
* ``step`` (the global training step) drives the schedules (SGA temperature, DS-Q sharpness,
  soft-round alpha, STH stage); a training call to a quantizer that follows a schedule
  (`scheduled`) without it is refused, since its schedule would silently stay at step 0.

Definitions follow Tsubota & Aizawa, "Comprehensive Comparisons of Uniform Quantization in
Deep Image Compression", IEEE Access 2023, and its code. Soft maths runs in float32 whatever
the layer's compute dtype, so the layers behave identically under mixed precision.
"""

import inspect
import math

import tensorflow as tf

from tfquant import tracing

__all__ = ["Quantizer", "get", "spec", "names", "canonical_name", "paper_name",
           "LinearSchedule", "relaxed"]

_REGISTRY = {}
_ALIASES = {}  # normalized spelling -> canonical name
_SPELLINGS = {}  # canonical name -> aliases as written


def _normalize(name):
  return "".join(c for c in str(name).lower() if c.isalnum())


def register(name, *aliases):
  """Class decorator: makes a quantizer available to `get` under `name` and `aliases` (the
  first alias is the name tables print, as in the study: AUN-Q, U-Q, ...)."""

  def decorate(cls):
    cls.canonical = name
    _REGISTRY[name] = cls
    _SPELLINGS[name] = aliases
    for alias in (name,) + aliases:
      _ALIASES[_normalize(alias)] = name
    tf.keras.utils.register_keras_serializable("tfquant")(cls)
    return cls

  return decorate


def names():
  """Canonical quantizer names, in registration order."""
  return list(_REGISTRY)


def paper_name(name):
  """The name tables print for a quantizer name or alias ('universal' -> 'U-Q')."""
  return _SPELLINGS[canonical_name(name)][0]


def canonical_name(name):
  """Maps a name or alias ('U-Q', 'uq', 'universal') to its canonical name."""
  try:
    return _ALIASES[_normalize(name)]
  except KeyError:
    valid = "; ".join(f"{n} ({', '.join(a)})" for n, a in _SPELLINGS.items())
    raise ValueError(f"Unknown quantizer {name!r}. Valid names (aliases): {valid}.") from None


def get(name, **params):
  """Returns a new quantizer layer.

  `name` is a canonical name or alias, a spec dict `{"name": ..., **params}` (see `spec`), or
  a layer (returned as is).
  """
  if isinstance(name, Quantizer):
    if params:
      raise ValueError("Parameters can't be given together with a quantizer instance.")
    return name
  if isinstance(name, dict):
    params = {**{k: v for k, v in name.items() if k != "name"}, **params}
    name = name["name"]
  cls = _REGISTRY[canonical_name(name)]
  layer_arguments = {"trainable", "name", "dtype", "dynamic"}  # any Keras layer's
  accepted = [p for p in inspect.signature(cls.__init__).parameters
              if p not in {"self", "kwargs"} | layer_arguments]
  unknown = sorted(set(params) - set(accepted) - layer_arguments)
  if unknown:
    raise ValueError(f"{cls.canonical} has no parameter(s) {', '.join(unknown)}; its "
                     f"parameters are: {', '.join(accepted) or 'none'}.")
  return cls(**params)


def spec(quantizer):
  """A JSON-friendly dict that `get` turns back into an equivalent, fresh layer."""
  config = quantizer.get_config()
  for key in ("name", "trainable", "dtype"):
    config.pop(key, None)
  return {"name": quantizer.canonical, **config}


@tf.custom_gradient
def _pass_through(y, quantized):
  """Returns `quantized`; the gradient flows to `y` unchanged (straight-through)."""

  def grad(upstream):
    return upstream, tf.zeros_like(quantized)

  return tf.identity(quantized), grad


SOFT_ROUND_MIN_SHARPNESS = 1e-3


def soft_round(y, sharpness):
  """Smooth rounding: floor(y) + 1/2 + tanh(k (d - 1/2)) / (2 tanh(k/2)), d = y - floor(y).

  This is both DS-Q's curve (Gong et al. 2019) and soft rounding (Agustsson & Theis 2020);
  it tends to round(y) as the sharpness k grows and to y as it shrinks. k is floored at
  `SOFT_ROUND_MIN_SHARPNESS`, where the curve is y within ~10⁻⁷ (at k = 0 it is 0/0).
  """
  sharpness = tf.maximum(sharpness, SOFT_ROUND_MIN_SHARPNESS)
  floor = tf.stop_gradient(tf.floor(y))
  d = y - floor
  return floor + 0.5 + tf.tanh(sharpness * (d - 0.5)) / (2.0 * tf.tanh(sharpness / 2.0))


@tf.custom_gradient
def _round_with_soft_gradient(y, sharpness):
  """Hard rounding forward; backward through `soft_round(y, sharpness)` (DS-Q)."""

  def grad(upstream):
    with tf.GradientTape() as tape:
      tape.watch([y, sharpness])
      soft = soft_round(y, sharpness)
    return tape.gradient(soft, [y, sharpness], output_gradients=upstream)

  return tf.round(y), grad


class LinearSchedule:
  """A value moving linearly from `start_value` at `start_step` to `end_value` at `end_step`."""

  def __init__(self, start_value, end_value=None, start_step=0, end_step=1):
    self.start_value = float(start_value)
    self.end_value = self.start_value if end_value is None else float(end_value)
    self.start_step = int(start_step)
    self.end_step = int(end_step)
    if self.end_step <= self.start_step:
      raise ValueError(f"end_step ({end_step}) must be after start_step ({start_step}).")

  def __call__(self, step):
    step = tf.cast(0 if step is None else step, tf.float32)
    progress = (step - self.start_step) / (self.end_step - self.start_step)
    progress = tf.clip_by_value(progress, 0.0, 1.0)
    return self.start_value + (self.end_value - self.start_value) * progress


def _coded_center(offset, coded_offset=None):
  """Where rounding is centred (float32): `coded_offset` if given (called if a function),
  else `offset`, else 0."""
  center = offset if coded_offset is None else coded_offset
  center = center() if callable(center) else center
  return tf.zeros([], tf.float32) if center is None else tf.cast(center, tf.float32)


_relaxation = tracing.Setting()


def relaxed(quantizer):
  """A context (for this thread) inside which every quantizer's training call gives
  `quantizer`'s approximation instead of its own, centred where the coder rounds
  (`coded_offset`), and scheduled by the `step` it is given: a model's training forward pass
  then differentiates the rate and distortion of the values the coder would transmit, which
  is what an encoder's search for better latents needs (`tfquant.refine`). `quantizer` must
  hold no weights."""
  quantizer = get(quantizer)
  if quantizer.weights or getattr(quantizer, "learnable", False):
    raise ValueError(f"A relaxation must hold no weights; {quantizer.canonical!r} learns its "
                     "own.")
  return _relaxation.to(quantizer)


class Quantizer(tf.keras.layers.Layer):
  """Base class: hard rounding at inference, `_approximate` (float32) in training.

  `offset` is where rounding is centred; `coded_offset`, where the coder rounds when that
  differs in training (e.g. a factorized latent trained around integers, coded around its
  medians): a tensor, or a function returning one, called only if needed (a median is an
  iterative search). Only quantizers that round as the coder does in training (STH-Q's
  second stage) use it.
  """

  canonical = None

  @property
  def scheduled(self):
    """Whether training depends on `step` (then a training call without it is refused)."""
    return False

  def _require_step(self, step):
    if step is None and self.scheduled:
      raise ValueError(
          f"The {self.canonical!r} quantizer follows a schedule of the training step, which "
          f"a training call must pass: model(x, training=True, step=optimizer.iterations) "
          f"(without it the schedule would stay at step 0).")

  def call(self, inputs, offset=None, training=None, step=None, coded_offset=None):
    y = tf.cast(inputs, tf.float32)
    relaxation = _relaxation.value if training else None
    if relaxation is not None:
      out = relaxation._approximate(y, _coded_center(offset, coded_offset), step)  # pylint: disable=protected-access
    elif training:
      self._require_step(step)
      out = self._approximate(y, _coded_center(offset), step)
    else:
      offset = _coded_center(offset)
      out = _pass_through(y, tf.round(y - offset) + offset)
    return tf.cast(out, self.compute_dtype)

  def _approximate(self, y, offset, step):
    raise NotImplementedError

  def schedule_values(self, step=None):
    """Scheduled parameters at `step`, as a dict of scalar tensors (for logging)."""
    del step
    return {}


@register("noise", "AUN-Q", "aun", "additive_noise", "uniform_noise")
class AdditiveNoise(Quantizer):
  """AUN-Q: y + u with u ~ U(-1/2, 1/2) drawn per element."""

  def _approximate(self, y, offset, step):
    del offset, step  # (y - m + u) + m = y + u
    return y + tf.random.uniform(tf.shape(y), -0.5, 0.5)


@register("ste", "STE-Q", "straight_through")
class StraightThrough(Quantizer):
  """STE-Q: round(y - m) + m forward, identity gradient."""

  def _approximate(self, y, offset, step):
    del step
    return _pass_through(y, tf.round(y - offset) + offset)


@register("universal", "U-Q", "u", "universal_quantization")
class Universal(Quantizer):
  """U-Q: round(y - m + u) - u + m with ONE u ~ U(-1/2, 1/2) per image, identity gradient.

  `dither(batch_size, seed)` regenerates the same per-image dither from a seed, so a decoder
  can undo it; pass it as `dither=` to quantize with it outside training.
  """

  def call(self, inputs, offset=None, training=None, step=None, coded_offset=None,
           dither=None):
    if dither is None or training:
      return super().call(inputs, offset=offset, training=training, step=step,
                          coded_offset=coded_offset)
    y = tf.cast(inputs, tf.float32)
    offset = 0.0 if offset is None else tf.cast(offset, tf.float32)
    out = _pass_through(y, self._dithered_round(y, offset, tf.cast(dither, tf.float32)))
    return tf.cast(out, self.compute_dtype)

  @staticmethod
  def dither(batch_size, seed):
    """Per-image dither of shape (batch_size, 1, 1, 1), a pure function of `seed` (2 ints)."""
    return tf.random.stateless_uniform([batch_size, 1, 1, 1], seed, -0.5, 0.5)

  @staticmethod
  def _dithered_round(y, offset, dither):
    return tf.round(y - offset + dither) - dither + offset

  def _approximate(self, y, offset, step):
    del step
    dither = tf.random.uniform(tf.concat([tf.shape(y)[:1], tf.ones_like(tf.shape(y)[1:])], 0),
                               -0.5, 0.5)
    return _pass_through(y, self._dithered_round(y, offset, dither))


@register("sga", "SGA-Q", "stochastic_gumbel_annealing")
class StochasticGumbelAnnealing(Quantizer):
  """SGA-Q (Yang et al. 2020): floor or ceil picked by a relaxed one-hot Gumbel-softmax sample.

  Logits are -atanh(distance)/tau for (floor, ceil); the temperature anneals with the step as
  tau = min(tau_max, tau_max * exp(-decay * (step - decay_start))), floored at `tau_min`
  (unfloored, it underflows to 0 near step 3·10⁵ and the sample is 0/0), or is fixed by
  `temperature`. The output is the soft sample itself (no straight-through).
  """

  _EPSILON = 1e-5

  def __init__(self, tau_max=0.5, decay=3e-4, decay_start=0, temperature=None, tau_min=1e-3,
               **kwargs):
    super().__init__(**kwargs)
    self.tau_max = float(tau_max)
    self.tau_min = float(tau_min)
    self.decay = float(decay)
    self.decay_start = int(decay_start)
    self.temperature = None if temperature is None else float(temperature)

  @property
  def scheduled(self):
    return self.temperature is None

  def tau(self, step=None):
    if self.temperature is not None:
      return tf.constant(self.temperature, tf.float32)
    elapsed = tf.cast(0 if step is None else step, tf.float32) - self.decay_start
    annealed = tf.minimum(self.tau_max, self.tau_max * tf.exp(-self.decay * elapsed))
    return tf.maximum(annealed, self.tau_min)

  def schedule_values(self, step=None):
    return {"temperature": self.tau(step)}

  def _approximate(self, y, offset, step):
    tau = self.tau(step)
    centred = y - offset
    floor = tf.floor(centred)
    bound = 1.0 - self._EPSILON
    distances = tf.stack([centred - floor, floor + 1.0 - centred], axis=-1)
    logits = -tf.math.atanh(tf.clip_by_value(distances, -bound, bound)) / tau
    uniform = tf.random.uniform(tf.shape(logits), self._EPSILON, 1.0 - self._EPSILON)
    gumbel = -tf.math.log(-tf.math.log(uniform))
    weights = tf.nn.softmax((logits + gumbel) / tau, axis=-1)
    return floor + weights[..., 1] + offset

  def get_config(self):
    return dict(super().get_config(), tau_max=self.tau_max, decay=self.decay,
                decay_start=self.decay_start, temperature=self.temperature,
                tau_min=self.tau_min)


class _SharpnessQuantizer(Quantizer):
  """Shared by quantizers with a sharpness following a `LinearSchedule`."""

  def __init__(self, sharpness_init, sharpness_end=None, schedule_start=0, schedule_end=1,
               **kwargs):
    super().__init__(**kwargs)
    self.schedule = LinearSchedule(sharpness_init, sharpness_end, schedule_start, schedule_end)

  @property
  def scheduled(self):
    return self.schedule.start_value != self.schedule.end_value

  def sharpness(self, step=None):
    return self.schedule(step)

  def schedule_values(self, step=None):
    return {"sharpness": self.sharpness(step)}

  def get_config(self):
    s = self.schedule
    return dict(super().get_config(), sharpness_init=s.start_value, sharpness_end=s.end_value,
                schedule_start=s.start_step, schedule_end=s.end_step)


@register("dsq", "DS-Q", "ds", "differentiable_soft_quantization")
class DifferentiableSoft(_SharpnessQuantizer):
  """DS-Q (Gong et al. 2019): hard rounding forward, gradient of `soft_round` backward.

  With `learnable=True` (the paper's Ballé17 setting) the sharpness k is a trainable scalar
  clipped to [ln 3, 1000] after each optimizer step; otherwise it follows the linear schedule
  from `sharpness_init` to `sharpness_end` (the paper's Ballé18/Cheng20 setting: fixed). The
  default k = 0.1 is the paper code's.
  """

  K_MIN = math.log(3.0)
  K_MAX = 1000.0

  def __init__(self, sharpness_init=0.1, sharpness_end=None, schedule_start=0, schedule_end=1,
               learnable=False, **kwargs):
    super().__init__(sharpness_init, sharpness_end, schedule_start, schedule_end, **kwargs)
    self.learnable = bool(learnable)

  def build(self, input_shape):
    if self.learnable:
      self.k = self.add_weight(
          name="k", shape=(), dtype=tf.float32, trainable=True,
          initializer=tf.keras.initializers.Constant(self.schedule.start_value),
          constraint=lambda k: tf.clip_by_value(k, self.K_MIN, self.K_MAX))
    super().build(input_shape)

  @property
  def scheduled(self):
    return not self.learnable and super().scheduled

  def sharpness(self, step=None):
    if self.learnable:
      return tf.cast(tf.convert_to_tensor(self.k), tf.float32)
    return super().sharpness(step)

  def _approximate(self, y, offset, step):
    return _round_with_soft_gradient(y - offset, self.sharpness(step)) + offset

  def get_config(self):
    return dict(super().get_config(), learnable=self.learnable)


@register("soft_round", "SR-Q", "soft-round", "sr", "softround")
class SoftRound(_SharpnessQuantizer):
  """Soft rounding (Agustsson & Theis 2020): the smooth curve itself, alpha annealed."""

  def __init__(self, sharpness_init=1.0, sharpness_end=16.0, schedule_start=0,
               schedule_end=100000, **kwargs):
    super().__init__(sharpness_init, sharpness_end, schedule_start, schedule_end, **kwargs)

  def _approximate(self, y, offset, step):
    return soft_round(y - offset, self.sharpness(step)) + offset


@register("sigmoid", "Sig-Q", "sigmoid-q", "sigmoid_quantization")
class Sigmoid(_SharpnessQuantizer):
  """Sigmoid soft step (Yang et al. 2019, quantization networks): floor(y) + sigmoid(T (d - 1/2)).

  The paper's code feeds sigmoid(T d), whose limit is ceil(y); centring on d - 1/2 makes the
  limit round(y) like every other quantizer here. T*(d - 1/2) is clipped to [-10, 10] as there.

  T follows the linear schedule (default: a constant 10), or with `stair_steps` set, the
  study's staircase T = min(sharpness_init + ⌊step / stair_steps⌋, sharpness_max)
  (`STUDY_SCHEDULE`: 1, 10⁴, 2000; the paper configs ask for it).
  """

  STUDY_SCHEDULE = {"sharpness_init": 1.0, "stair_steps": 10000, "sharpness_max": 2000.0}

  def __init__(self, sharpness_init=10.0, sharpness_end=None, schedule_start=0, schedule_end=1,
               stair_steps=None, sharpness_max=2000.0, **kwargs):
    super().__init__(sharpness_init, sharpness_end, schedule_start, schedule_end, **kwargs)
    self.stair_steps = None if stair_steps is None else int(stair_steps)
    self.sharpness_max = float(sharpness_max)

  @property
  def scheduled(self):
    return self.stair_steps is not None or super().scheduled

  def sharpness(self, step=None):
    if self.stair_steps is None:
      return super().sharpness(step)
    stairs = tf.floor(tf.cast(0 if step is None else step, tf.float32) / self.stair_steps)
    return tf.minimum(self.schedule.start_value + stairs, self.sharpness_max)

  def get_config(self):
    return dict(super().get_config(), stair_steps=self.stair_steps,
                sharpness_max=self.sharpness_max)

  def _approximate(self, y, offset, step):
    centred = y - offset
    floor = tf.stop_gradient(tf.floor(centred))
    logits = tf.clip_by_value(self.sharpness(step) * (centred - floor - 0.5), -10.0, 10.0)
    return floor + tf.sigmoid(logits) + offset


@register("stochastic", "St-Q", "stq", "stochastic_rounding")
class StochasticRounding(Quantizer):
  """St-Q: floor(y) + 1 with probability equal to the fractional part (unbiased), identity grad."""

  def _approximate(self, y, offset, step):
    del step
    centred = y - offset
    floor = tf.floor(centred)
    up = tf.cast(tf.random.uniform(tf.shape(y)) < centred - floor, tf.float32)
    return _pass_through(y, floor + up + offset)


@register("sth", "STH-Q", "soft_to_hard", "two_stage")
class SoftToHard(Quantizer):
  """STH-Q: additive noise until `switch_step`, then hard rounding (identity gradient).

  The second stage rounds around `coded_offset` (default: `offset`), so that the decoder
  trains on exactly the values the coder will transmit, as the study's code does with the
  bottleneck's own inference rounding. It also freezes the encoder; that part is the
  trainer's, which asks `is_hard(step)`. The paper switches at 96% of the steps.
  """

  def __init__(self, switch_step=960000, **kwargs):
    super().__init__(**kwargs)
    self.switch_step = int(switch_step)

  @property
  def scheduled(self):
    return True

  def is_hard(self, step=None):
    return tf.cast(0 if step is None else step, tf.int64) >= self.switch_step

  def schedule_values(self, step=None):
    return {"hard": tf.cast(self.is_hard(step), tf.float32)}

  def call(self, inputs, offset=None, training=None, step=None, coded_offset=None):
    if not training or _relaxation.value is not None:
      return super().call(inputs, offset=offset, training=training, step=step,
                          coded_offset=coded_offset)
    self._require_step(step)
    y = tf.cast(inputs, tf.float32)

    def hard():
      center = _coded_center(offset, coded_offset)
      return _pass_through(y, tf.round(y - center) + center)

    noisy = lambda: y + tf.random.uniform(tf.shape(y), -0.5, 0.5)
    return tf.cast(tf.cond(self.is_hard(step), hard, noisy), self.compute_dtype)

  def get_config(self):
    return dict(super().get_config(), switch_step=self.switch_step)
