"""Checkerboard context latent codec (He et al. 2021): anchors first, then the rest, in parallel."""

import tensorflow as tf

from tfquant.latent_codecs.context import ContextCodec
from tfquant.latent_codecs.hyperprior import spatial_shape
from tfquant.latent_codecs.integer_network import Fixed


def anchor_mask(shape):
  """float32 [1, H, W, 1]: 1 on the checkerboard's anchors ((row + column) even)."""
  rows = tf.range(shape[0])[:, None]
  cols = tf.range(shape[1])[None, :]
  return tf.cast((rows + cols) % 2 == 0, tf.float32)[None, :, :, None]


class CheckerboardCodec(ContextCodec):
  """Two parallel passes over y: the anchors ((row + column) even) from ψ alone, then every
  other position from ψ and its anchor neighbours.

  ::

      pass 1:  ψ ──► g_ep([0, ψ]) ──► anchors' w, μ, σ ──► code the anchors ŷ_a
      pass 2:  ŷ_a ──► g_c (odd offsets only) ──► φ ──► g_ep([φ, ψ]) ──► the rest

  With `center="mean"` the means must exist before the values centred on them; the anchors'
  do not depend on the context, so two passes settle every mean in training too.
  """

  mask = "checkerboard"

  def context(self, y_hat, integer=False):
    """φ of the non-anchors from the anchors of `y_hat`; 0 on the anchors."""
    anchors = anchor_mask(tf.shape(y_hat)[1:3])
    context = super().context(y_hat * tf.cast(anchors, y_hat.dtype), integer)
    if integer:
      return Fixed(context.mantissas * tf.cast(1.0 - anchors, tf.float64), context.exponent)
    return context * tf.cast(1.0 - anchors, context.dtype)

  def forward_y(self, y, hyper, training, step):
    codec = self.y_codec
    if codec.center == "integer":
      y_ent, y_dec = codec.quantize_pair(y, None, training, step)
      mixture = codec.mixture(self.parameters(hyper, y_dec))
    else:
      # The second pass quantizes the non-anchors only, around means computed from the
      # first pass's anchors (a new draw of the anchors would move those means).
      mixture = codec.mixture(self.parameters(hyper, tf.zeros_like(y)))
      y_ent, y_dec = codec.quantize_pair(y, mixture.mean, training, step)
      mixture = codec.mixture(self.parameters(hyper, y_dec))
      anchors = anchor_mask(tf.shape(y)[1:3]) > 0.5
      second = codec.quantize_pair(y, mixture.mean, training, step)
      y_ent, y_dec = (tf.where(anchors, first, again)
                      for first, again in zip((y_ent, y_dec), second))
    return y_dec, codec.rate(mixture, y_ent)

  def _code(self, hyper, state, code_group, integer=False):
    shape = tf.concat([spatial_shape(hyper), [self.y_codec.channels]], 0)
    y_hat = tf.zeros(shape, tf.float32)
    symbols = tf.zeros(shape[1:], tf.int32)
    anchors = anchor_mask(shape[1:3])[0, :, :, 0] > 0
    for group in (anchors, ~anchors):
      positions = tf.where(group)
      parameters = self.parameters(hyper, y_hat, integer)[0]
      state, group_values, group_symbols = code_group(
          state, tf.gather_nd(parameters, positions),
          lambda t: tf.gather_nd(t[0], positions))  # pylint: disable=cell-var-from-loop
      y_hat = tf.tensor_scatter_nd_update(y_hat[0], positions, group_values)[None]
      symbols = tf.tensor_scatter_nd_update(symbols, positions, group_symbols)
    return state, y_hat, symbols[None]
