"""Hyperprior + spatial context latent codec (Minnen et al. 2018, Cheng et al. 2020, He et al. 2021)."""

import tensorflow as tf

from tfquant.coding import coders
from tfquant.latent_codecs.factorized import FactorizedCodec
from tfquant.latent_codecs.gaussian_mixture import GaussianMixtureCodec
from tfquant.latent_codecs.hyperprior import HyperCodecBase
from tfquant.latent_codecs.integer_network import Fixed, IntegerLayer, IntegerNetwork


def _spatial_shape(hyper):
  """[B, H, W] of ψ, float or `Fixed`."""
  return tf.shape(hyper.mantissas if isinstance(hyper, Fixed) else hyper)[:3]


def anchor_mask(spatial_shape):
  """float32 [1, H, W, 1]: 1 on the checkerboard's anchors ((row + column) even)."""
  rows = tf.range(spatial_shape[0])[:, None]
  cols = tf.range(spatial_shape[1])[None, :]
  return tf.cast((rows + cols) % 2 == 0, tf.float32)[None, :, :, None]


class MaskedConv2D(tf.keras.layers.Layer):
  """A k×k convolution that only sees neighbours decoded before the centre.

  "serial": the rows above and the left part of the current row (raster order; PixelCNN's
  mask A). "checkerboard": neighbours at an odd offset, i.e. anchors as seen from a
  non-anchor.
  """

  MASKS = ("serial", "checkerboard")

  def __init__(self, filters, mask, kernel_size=5, **kwargs):
    super().__init__(**kwargs)
    if mask not in self.MASKS:
      raise ValueError(f"mask must be one of {self.MASKS}, got {mask!r}.")
    if kernel_size % 2 != 1:
      raise ValueError(f"kernel_size must be odd, got {kernel_size}.")
    self.filters = int(filters)
    self.mask = mask
    self.kernel_size = int(kernel_size)

  def build(self, input_shape):
    k, centre = self.kernel_size, self.kernel_size // 2
    self.kernel = self.add_weight("kernel", [k, k, int(input_shape[-1]), self.filters],
                                  initializer="glorot_uniform")
    self.bias = self.add_weight("bias", [self.filters], initializer="zeros")
    rows, cols = tf.meshgrid(tf.range(k), tf.range(k), indexing="ij")
    if self.mask == "serial":
      visible = (rows < centre) | ((rows == centre) & (cols < centre))
    else:
      visible = (rows + cols) % 2 == 1
    self._mask = tf.cast(visible, self.dtype)[:, :, None, None]
    super().build(input_shape)

  @property
  def masked_kernel(self):
    return self.kernel * self._mask

  def call(self, inputs):
    kernel = tf.cast(self.masked_kernel, inputs.dtype)
    return tf.nn.conv2d(inputs, kernel, 1, "SAME") + tf.cast(self.bias, inputs.dtype)

  def integer_layer(self, rows=None):
    """Its `IntegerLayer`: the masked convolution, or with `rows` the product of a flattened
    patch of the kernel's first `rows` rows (the serial pass's)."""
    with tf.init_scope():
      kernel, bias = self.masked_kernel.numpy(), self.bias.numpy()
    if rows is None:
      return IntegerLayer(kernel, bias, "conv")
    return IntegerLayer(kernel[:rows].reshape(-1, self.filters), bias, "dense")

  def get_config(self):
    return dict(super().get_config(), filters=self.filters, mask=self.mask,
                kernel_size=self.kernel_size)


class ContextHyperpriorCodec(HyperCodecBase):
  """Mean-scale / mixture hyperprior with an optional spatial context model.

  ::

      y ──► h_a ──► z ──► [FactorizedCodec z] ──► ẑ_dec ──► h_s ──► ψ ─────────────┐
      │                                                                              ▼
      ├──► dec_quant ──► ŷ_dec ──► g_c: masked 5×5 conv ──► φ ──► g_ep([φ, ψ]): 1×1 convs
      │                     │                                             │ w, μ, σ
      │                     ▼                                             ▼
      └──────────────► [GaussianMixtureCodec y] ◄──────────────────────────┘
                                   │
                                   └──► ŷ_dec, bits(y) + bits(z)

  `context`: "none" (g_ep sees ψ only), "serial" (raster-order autoregression: decoding
  visits one position at a time and recomputes only its 5×5 neighbourhood), or
  "checkerboard" (He et al. 2021: anchors first from ψ alone, then every other position
  from its anchor neighbours — two parallel passes).

  In training the context sees the decoder-path values ŷ_dec, which are what the decoder
  will have (the paper's code feeds it the entropy-path values instead). With
  `center="mean"` the means must exist before the values centred on them: the checkerboard
  runs its two passes; the serial context, whose means depend on its own outputs, sees ŷ_dec
  rounded around integers in training and runs the exact position-by-position pass outside
  training.
  """

  MODES = ("none", "serial", "checkerboard")

  def __init__(self, hyper_analysis, hyper_synthesis, entropy_parameters, y_codec, z_codec,
               context="serial", context_filters=None, hyper_stride=4, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(y_codec, GaussianMixtureCodec):
      raise TypeError("y_codec must be a GaussianMixtureCodec.")
    if not isinstance(z_codec, FactorizedCodec):
      raise TypeError("z_codec must be a FactorizedCodec.")
    if context not in self.MODES:
      raise ValueError(f"context must be one of {self.MODES}, got {context!r}.")
    self.hyper_analysis = hyper_analysis
    self.hyper_synthesis = hyper_synthesis
    self.entropy_parameters = entropy_parameters
    self.y_codec = y_codec
    self.z_codec = z_codec
    self.context = context
    self.hyper_stride = int(hyper_stride)
    self.context_model = None if context == "none" else MaskedConv2D(
        context_filters, context, name="context_model")

  def build(self, input_shape):
    if not self.y_codec.built:  # its methods are called directly, never the layer itself
      self.y_codec.build(input_shape)
    super().build(input_shape)

  def parameters(self, hyper, y_hat, integer=False):
    """Mixture parameters everywhere from ψ and the context of `y_hat` (ignored for "none";
    for the checkerboard only its anchors are read, and anchors get no context); with
    `integer`, ψ is a `Fixed` and every network is its integer twin."""
    if integer:
      return self._integer_parameters(hyper, y_hat)
    if self.context == "none":
      features = hyper
    else:
      if self.context == "checkerboard":
        anchors = anchor_mask(tf.shape(y_hat)[1:3])
        y_hat = y_hat * tf.cast(anchors, y_hat.dtype)
      context = self.context_model(tf.cast(y_hat, hyper.dtype))
      if self.context == "checkerboard":
        context = context * tf.cast(1.0 - anchors, context.dtype)
      features = tf.concat([context, hyper], axis=-1)
    return self.entropy_parameters(features)

  def _integer_parameters(self, hyper, y_hat):
    features = hyper
    if self.context != "none":
      if self.context == "checkerboard":
        anchors = anchor_mask(tf.shape(y_hat)[1:3])
        y_hat = y_hat * anchors
      context = self.context_model.integer_layer()(Fixed.from_float(y_hat))
      if self.context == "checkerboard":
        context = Fixed(context.mantissas * tf.cast(1.0 - anchors, tf.float64),
                        context.exponent)
      features = Fixed.concat([context, hyper])
    return IntegerNetwork(self.entropy_parameters.layers)(features).to_float()

  def _hyper(self, y, training, step):
    z = self.hyper_analysis(y)
    z_dec, z_bits = self.z_codec(z, training=training, step=step)
    return self.hyper_synthesis(z_dec), z_bits

  def call(self, y, training=None, step=None):
    """Returns (ŷ_dec, {"y": bits per image, "z": bits per image})."""
    hyper, z_bits = self._hyper(y, training, step)
    codec = self.y_codec
    if self.context == "serial" and codec.center == "mean" and not training:
      y_ent = y_dec = self._serial(hyper, self._rounding_step(y))  # exactly as decoded
      mixture = codec.mixture(self.parameters(hyper, y_dec))
    elif codec.center == "integer" or self.context == "serial":
      y_ent, y_dec = codec.quantize_pair(y, None, training, step)
      mixture = codec.mixture(self.parameters(hyper, y_dec))
      if codec.center == "mean":  # training: the context saw values rounded around integers
        y_ent, y_dec = codec.quantize_pair(y, mixture.mean, training, step)
    else:
      # Anchors' parameters don't depend on the context, so two passes settle every mean;
      # the second quantizes the non-anchors only, around means computed from the first
      # pass's anchors (a new draw of the anchors would move those means).
      mixture = codec.mixture(self.parameters(hyper, tf.zeros_like(y)))
      y_ent, y_dec = codec.quantize_pair(y, mixture.mean, training, step)
      if self.context == "checkerboard":
        mixture = codec.mixture(self.parameters(hyper, y_dec))
        anchors = anchor_mask(tf.shape(y)[1:3]) > 0.5
        second = codec.quantize_pair(y, mixture.mean, training, step)
        y_ent, y_dec = (tf.where(anchors, first, again)
                        for first, again in zip((y_ent, y_dec), second))
    return y_dec, {"y": codec.rate(mixture, y_ent), "z": z_bits}

  def compress(self, y, coder=coders.DEFAULT, dither=None, integer=False):
    """Strings [y, z] and their symbols for a batch of one; `dither` applies to y only;
    `integer`: y's tables chosen by integer entropy parameters.

    The encoder knows every ŷ, so it only visits the positions to compute the parameters
    the decoder will have, and codes all of y at the end in one call."""
    z = self.hyper_analysis(y)
    z_string, z_symbols = self.z_codec.compress(z, coder)
    hyper = self.hyper_features(self.z_codec.values(z_symbols), integer)
    codec = self.y_codec
    dither = 0.0 if dither is None else dither

    def encode_group(state, parameters, select):
      y_hat, symbols, items, tables = codec.encode(select(y), codec.mixture(parameters, integer),
                                                   dither, integer)
      reads = tf.fill([codec.reads], tf.size(items) // codec.reads)
      state = tuple(array.write(array.size(), tf.reshape(value, [-1])) for array, value in
                    zip(state, (items, tables, reads)))
      return state, y_hat, symbols

    arrays = tuple(tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False,
                                  element_shape=[None]) for _ in range(3))
    (items, tables, reads), _, y_symbols = self._code(hyper, arrays, encode_group, integer)
    y_string = coders.get(coder).encode(items.concat(), tables.concat(), codec.tables,
                                         reads.concat())
    return [tf.reshape(y_string, [1]), z_string], [y_symbols, z_symbols]

  def decompress(self, strings, spatial_shape, coder=coders.DEFAULT, dither=None,
                 accept_side_info=None, integer=False):
    """(ŷ, [y symbols, z symbols], ok); see `decode_y_if` for `accept_side_info`."""
    y_strings, z_strings = strings
    z_hat, z_symbols, z_ok = self.z_codec.decompress(
        z_strings, spatial_shape // self.hyper_stride, coder)
    codec = self.y_codec
    dither = 0.0 if dither is None else dither

    def decode_y():
      hyper = self.hyper_features(z_hat, integer)
      items = tf.cast(tf.reduce_prod(_spatial_shape(hyper)) * codec.channels * codec.reads,
                      tf.int64)
      reader = coders.get(coder).reader(y_strings[0], codec.tables, items)

      def decode_group(state, parameters, select):
        del select
        return codec.decode(reader, state, codec.mixture(parameters, integer), dither, integer)

      state, y_hat, y_symbols = self._code(hyper, reader.initial, decode_group, integer)
      return y_hat, y_symbols, reader.finish(state)

    y_hat, y_symbols, ok = self.decode_y_if(z_ok, z_symbols, accept_side_info, decode_y)
    return y_hat, [y_symbols, z_symbols], ok

  def _code(self, hyper, state, code_group, integer=False):
    """Visits y group by group in the decoder's order (serial: positions in raster order;
    checkerboard: anchors, then the rest; none: all at once), the same operations at both
    ends: `code_group(state, parameters, select)` → (state, ŷ, int32 symbols) for the group
    whose elements `select` picks from a [1, H, W, C] tensor. Returns (state, ŷ, symbols)."""
    if self.context == "serial":
      def code_position(i, j, parameters, state):
        state, symbols = state
        state, y_hat, position_symbols = code_group(state, parameters,
                                                    lambda t: t[:, i, j, :])
        return y_hat, (state, symbols.write(symbols.size(), position_symbols))

      symbols = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[1, None])
      (state, symbols), y_hat = self._serial(hyper, code_position, (state, symbols),
                                             with_state=True, integer=integer)
      return state, y_hat, tf.reshape(symbols.stack(), tf.shape(y_hat))  # raster order

    shape = tf.concat([_spatial_shape(hyper), [self.y_codec.channels]], 0)
    y_hat = tf.zeros(shape, tf.float32)
    if self.context == "none":
      return code_group(state, self.parameters(hyper, y_hat, integer), lambda t: t)
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

  def _rounding_step(self, y):
    """A serial step that rounds y around the predicted means (no coding)."""
    codec = self.y_codec

    def step(i, j, parameters, state):
      offset = codec.coding_offset(codec.mixture(parameters), 0.0)
      return tf.round(tf.cast(y[:, i, j, :], tf.float32) - offset) + offset, state

    return step

  def _position_network(self, hyper, integer=False):
    """The context and entropy-parameter networks at one position: `(patch, i, j)` → [B,
    parameters] from the already-decoded (k//2 + 1) × k patch above (i, j) and ψ there.

    Its kernels are computed once, outside the per-position loop: TFC's SignalConv2D derives
    its kernel from a DFT parameterization at every call, which there cost ~10× the
    products themselves. The hyper part of the first layer, linear in ψ, is one product over
    all positions. (Kernels of `entropy_parameters` are 1×1, so every layer is a product.)
    With `integer`, ψ is a `Fixed` and the networks their integer twins, the hyper part
    factored out the same way (`IntegerLayer.partial`).
    """
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

    def parameters_at(patch, i, j):
      patch = Fixed.from_float(tf.reshape(patch, [tf.shape(patch)[0], -1]))
      context_part = first.partial(context_layer(patch), slice(None, filters))
      return rest(first.finish([context_part, hyper_part[:, i, j, :]])).to_float()

    return parameters_at

  def _serial(self, hyper, code_position, state=0, with_state=False, integer=False):
    """Raster-order pass: at each position, the context from the already-visited 5×5
    neighbourhood, its parameters, then `code_position(i, j, parameters, state)` →
    (values [B, C], state). Returns ŷ [B, H, W, C] (and the state)."""
    channels = self.y_codec.channels
    half = self.context_model.kernel_size // 2
    shape = _spatial_shape(hyper)
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

    _, buffer, state = tf.while_loop(
        lambda position, *_: position < height * width, body, (0, buffer, state))
    y_hat = buffer[:, half:, half:half + width, :]
    return (state, y_hat) if with_state else y_hat
