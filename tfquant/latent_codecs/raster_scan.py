"""Raster-scan context latent codec (Minnen et al. 2018): y decoded one position at a time."""

import tensorflow as tf

from tfquant import tracing
from tfquant.coding import bisection
from tfquant.latent_codecs.context import ContextCodec
from tfquant.latent_codecs.hyperprior import spatial_shape
from tfquant.latent_codecs.integer_network import Fixed, IntegerNetwork

# While a coding graph is traced under `compiled_positions.on()`, the integer network at each
# position runs as one XLA-compiled function: as ~180 separate small ops (the block exponents'
# bookkeeping) it took 1.4× the float path's time. XLA keeps IEEE semantics and every value is
# an exact integer, so the bytes are the same. Exports trace without it: TF Serving runs XLA
# on a CPU only behind an experimental flag.
compiled_positions = tracing.Switch()


class RasterScanCodec(ContextCodec):
  """Raster-order autoregression: each position's parameters come from ψ there and from the
  already-decoded 5×5 half-neighbourhood above and to the left (PixelCNN's mask A).

  ::

      for i, j in raster order:
          ŷ[i−2 … i, j−2 … j+2] (masked) ──► g_c ──► φ_ij ──► g_ep([φ_ij, ψ_ij]) ──► code ŷ_ij

  Decoding recomputes only each position's neighbourhood (`_serial`), with the networks
  fused into products (`_position_network`), so `entropy_parameters` must be 1×1
  convolutions. With `center="mean"` the means depend on the values centred on them: in
  training the context sees ŷ_dec rounded around integers; outside training the exact
  position-by-position pass runs.
  """

  mask = "serial"

  def forward_y(self, y, hyper, training, step):
    codec = self.y_codec
    if codec.center == "mean" and not training:
      y_ent = y_dec = self._serial(hyper, self._rounding_step(y))  # exactly as decoded
      mixture = codec.mixture(self.parameters(hyper, y_dec))
    else:
      y_ent, y_dec = codec.quantize_pair(y, None, training, step)
      mixture = codec.mixture(self.parameters(hyper, y_dec))
      if codec.center == "mean":  # training: the context saw values rounded around integers
        y_ent, y_dec = codec.quantize_pair(y, mixture.mean, training, step)
    return y_dec, codec.rate(mixture, y_ent)

  def _code(self, hyper, state, code_group, integer=False):
    def code_position(i, j, parameters, state):
      state, symbols = state
      state, y_hat, position_symbols = code_group(state, parameters, lambda t: t[:, i, j, :])
      return y_hat, (state, symbols.write(symbols.size(), position_symbols))

    symbols = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[1, None])
    (state, symbols), y_hat = self._serial(hyper, code_position, (state, symbols),
                                           with_state=True, integer=integer)
    return state, y_hat, tf.reshape(symbols.stack(), tf.shape(y_hat))  # raster order

  def _rounding_step(self, y):
    """A serial step that rounds y around the predicted means (no coding)."""
    codec = self.y_codec

    def step(i, j, parameters, state):
      offset = codec.offsets(codec.mixture(parameters))
      return tf.round(tf.cast(y[:, i, j, :], tf.float32) - offset) + offset, state

    return step

  def _position_network(self, hyper, integer=False):
    """The context and entropy-parameter networks at one position: `(patch, i, j)` → [B,
    parameters] from the already-decoded (k//2 + 1) × k patch above (i, j) and ψ there.

    Its kernels are computed once, outside the per-position loop: TFC's SignalConv2D derives
    its kernel from a DFT parameterization at every call, which there cost ~10× the
    products themselves. The hyper part of the first layer, linear in ψ, is one product over
    all positions. (Every layer of `entropy_parameters` must be 1×1 to be a product.)
    With `integer`, ψ is a `Fixed` and the networks their integer twins, the hyper part
    factored out the same way (`IntegerLayer.partial`).
    """
    for layer in self.entropy_parameters.layers:
      if tuple(layer.kernel.shape[:2]) != (1, 1):
        raise ValueError(f"The serial context needs 1×1 entropy-parameter layers; "
                         f"{layer.name}'s kernel is {tuple(layer.kernel.shape[:2])}.")
    if integer:
      return self._integer_position_network(hyper)
    dtype = hyper.dtype
    context_model = self.context_model
    rows = context_model.kernel_size // 2 + 1
    context_kernel = tf.reshape(tf.cast(context_model.masked_kernel[:rows], dtype),
                                [-1, context_model.filters])
    context_bias = tf.cast(context_model.bias, dtype)
    layers = [(tf.reshape(tf.cast(layer.kernel, dtype), layer.kernel.shape[2:]),
               tf.cast(layer.bias, dtype), layer.activation)
              for layer in self.entropy_parameters.layers]
    first_kernel, first_bias, first_activation = layers[0]
    hyper_part = tf.einsum("bhwc,cd->bhwd", hyper, first_kernel[context_model.filters:]) + (
        first_bias)

    def parameters_at(patch, i, j):
      patch = tf.reshape(tf.cast(patch, dtype), [tf.shape(patch)[0], -1])
      context = tf.matmul(patch, context_kernel) + context_bias
      x = first_activation(tf.matmul(context, first_kernel[:context_model.filters]) +
                           hyper_part[:, i, j, :])
      for kernel, bias, activation in layers[1:]:
        x = activation(tf.matmul(x, kernel) + bias)
      return tf.cast(x, tf.float32)

    return parameters_at

  def _integer_position_network(self, hyper):
    context_layer = self.context_model.integer_layer(self.context_model.kernel_size // 2 + 1)
    first, *rest = IntegerNetwork(self.entropy_parameters.layers).layers
    filters = self.context_model.filters
    hyper_part = first.partial(hyper, slice(filters, None))
    rest = IntegerNetwork(rest)

    def network(patch, hyper_mantissas, hyper_exponent):
      patch = Fixed.from_float(tf.reshape(patch, [tf.shape(patch)[0], -1]))
      context_part = first.partial(context_layer(patch), slice(None, filters))
      return rest(first.finish([context_part, Fixed(hyper_mantissas, hyper_exponent)])).to_float()

    if compiled_positions:
      network = tf.function(network, jit_compile=True, autograph=False)

    def parameters_at(patch, i, j):
      return network(patch, hyper_part.mantissas[:, i, j, :], hyper_part.exponent)

    return parameters_at

  def _serial(self, hyper, code_position, state=0, with_state=False, integer=False):
    """Raster-order pass: at each position, the context from the already-visited 5×5
    neighbourhood, its parameters, then `code_position(i, j, parameters, state)` →
    (values [B, C], state). Returns ŷ [B, H, W, C] (and the state)."""
    channels = self.y_codec.channels
    half = self.context_model.kernel_size // 2
    shape = spatial_shape(hyper)
    batch, height, width = shape[0], shape[1], shape[2]
    # Zero padding above, left and right, as the masked convolution's "SAME" padding sees.
    buffer = tf.zeros([batch, height + half, width + 2 * half, channels], tf.float32)
    parameters_at = self._position_network(hyper, integer)

    def body(position, buffer, state):
      i, j = position // width, position % width
      patch = buffer[:, i:i + half + 1, j:j + 2 * half + 1, :]
      parameters = parameters_at(patch, i, j)
      values, state = code_position(i, j, parameters, state)
      indices = tf.stack([tf.range(batch), tf.fill([batch], i + half),
                          tf.fill([batch], j + half)], axis=1)
      buffer = tf.tensor_scatter_nd_update(buffer, indices, tf.cast(values, tf.float32))
      return position + 1, buffer, state

    with bisection.few_elements.on():  # a position's channels
      _, buffer, state = tf.while_loop(
          lambda position, *_: position < height * width, body, (0, buffer, state))
    y_hat = buffer[:, half:, half:half + width, :]
    return (state, y_hat) if with_state else y_hat
