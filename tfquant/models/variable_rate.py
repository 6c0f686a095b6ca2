"""Variable rate from one model: a quantization step Δ(λ) for each channel of y.

::

    x ──► g_a ──► y ──► ÷Δ(λ) ──► [latent codec] ──► ŷ ──► ×Δ(λ) ──► g_s ──► x̂
                                                   │
                              bits ◄───────────────┘      loss = mean over the batch of λ·D + R

Every quantizer, its training approximation included, acts on y/Δ: bins of width Δ on y, so
AUN-Q's noise, U-Q's dither, DS-Q's curve, ... all scale with the step, and the entropy codec
(hyper branch and context included) models the scaled latent. The decoder needs only Δ, from
the λ the file records. Δ is learned at `anchors` values of λ spaced evenly in log λ over the
model's range and interpolated linearly in log λ between them (Cui et al., CVPR 2021, gain
units, with the inverse gain tied to the gain so that Δ is the quantization step), so every λ
in the range is a rate, and training samples λ log-uniformly over the whole range.

A file stores λ as a 16-bit code, its position in the range in log λ (`RATE_CODE_MAX` + 1
steps); encoder and decoder both derive Δ from the code.

With `rate_gains` (`ChannelGain`) the transforms follow λ too: a gain per channel, on the same
anchors, after each layer of g_a and g_s but their last, also taken from the file's code.
"""

import math

import tensorflow as tf

RATE_CODE_MAX = 0xFFFF


class _RateTable(tf.keras.layers.Layer):
  """A factor per channel, learned at `anchors` values of λ spaced evenly in log λ over the
  range and interpolated linearly in log λ between them: `factor(λ)` is [batch, 1, 1,
  channels] for λ [batch] (or one λ, [1, 1, 1, channels]). Subclasses make the table of its
  logs (`_table`)."""

  def __init__(self, lmbda_range, anchors=8, **kwargs):
    super().__init__(**kwargs)
    low, high = (float(v) for v in lmbda_range)
    if not 0 < low < high < math.inf:
      raise ValueError(f"A variable-rate λ range needs 0 < low < high, got {lmbda_range}.")
    if anchors < 2:
      raise ValueError(f"A variable-rate model needs at least 2 anchors, got {anchors}.")
    self.low, self.high, self.anchors = low, high, int(anchors)

  def position(self, lmbda):
    """λ's place in the range in log λ, 0 … 1 (clipped)."""
    lmbda = tf.cast(lmbda, tf.float32)
    return tf.clip_by_value(tf.math.log(lmbda / self.low) / math.log(self.high / self.low),
                            0.0, 1.0)

  def factor(self, lmbda):
    scaled = self.position(tf.reshape(lmbda, [-1, 1])) * (self.anchors - 1)
    # Linear interpolation between anchors, as weights of hat functions: a dense product
    # (a gather's gradient would be sparse slices).
    weights = tf.nn.relu(1.0 - tf.abs(scaled - tf.range(self.anchors, dtype=tf.float32)))
    return tf.exp(tf.matmul(weights, self._table))[:, None, None, :]

  def get_config(self):
    return dict(super().get_config(), lmbda_range=(self.low, self.high),
                anchors=self.anchors)


class QuantizationStep(_RateTable):
  """`step(latent, λ)`: Δ(λ) per channel of `latent`."""

  def build(self, latent_shape):
    # Δ ∝ λ^(-1/2) at the start: uniform quantization's error Δ²/12 falls as 1/λ, as the
    # distortion at the rate-distortion optimum does; Δ = 1 at the range's geometric middle.
    positions = tf.linspace(0.0, 1.0, self.anchors)
    log_steps = -0.5 * (positions - 0.5) * math.log(self.high / self.low)
    self.log_step = self.add_weight(
        "log_step", [self.anchors, int(latent_shape[-1])], tf.float32,
        initializer=lambda shape, dtype: tf.tile(log_steps[:, None], [1, shape[1]]))
    super().build(latent_shape)

  @property
  def _table(self):
    return self.log_step

  def call(self, latent, lmbda):
    del latent  # its channels made the table (`build`)
    return self.factor(lmbda)

  @property
  def middle(self):
    """The range's geometric middle, where Δ starts at 1."""
    return math.sqrt(self.low * self.high)

  def sample(self, batch):
    """λ for each example of a training batch, log-uniform over the range."""
    return self.low * tf.exp(tf.random.uniform([batch]) * math.log(self.high / self.low))

  def code(self, lmbda):
    """The 16-bit rate code (an int32 tensor) of the nearest λ a file can record. λ outside
    the range is refused: a ValueError, or in a graph an InvalidArgumentError."""
    lmbda = tf.cast(lmbda, tf.float32)
    inside = (lmbda >= self.low * (1 - 1e-6)) & (lmbda <= self.high * (1 + 1e-6))
    message = f"λ is outside this model's range [{self.low:g}, {self.high:g}]"
    if tf.executing_eagerly():
      if not bool(inside):
        raise ValueError(f"λ={float(lmbda):g} {message[2:]}.")
      checks = []
    else:
      checks = [tf.debugging.Assert(inside, [message])]
    with tf.control_dependencies(checks):
      return tf.cast(tf.round(self.position(lmbda) * RATE_CODE_MAX), tf.int32)

  def lmbda(self, code):
    """The λ a rate code stands for (a tensor, in graph code)."""
    position = tf.cast(code, tf.float32) / RATE_CODE_MAX
    return self.low * tf.exp(position * math.log(self.high / self.low))


class ChannelGain(_RateTable):
  """`gain(activations, λ)`: the activations scaled per channel by a gain of λ, 1 at the
  start (a model without gains, copied in, computes as before). Between the layers of the
  analysis and synthesis transforms (`CompressionModel`'s `rate_gains`) they let the
  transforms themselves change with the rate, where Δ(λ) alone leaves them one compromise
  for every λ (Choi et al., ICCV 2019, conditional convolutions; Cui et al. 2021)."""

  def build(self, activations_shape):
    self.log_gain = self.add_weight("log_gain", [self.anchors, int(activations_shape[-1])],
                                    tf.float32, initializer="zeros")
    super().build(activations_shape)

  @property
  def _table(self):
    return self.log_gain

  def call(self, activations, lmbda):
    return activations * tf.cast(self.factor(lmbda), activations.dtype)
