"""What the spatial-context codecs share: the masked convolution and coding y group by group."""

import tensorflow as tf

from tfquant.coding import coders
from tfquant.latent_codecs.hyperprior import HyperCodec, spatial_shape
from tfquant.latent_codecs.integer_network import Fixed, IntegerLayer


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


class ContextCodec(HyperCodec):
  """Mean-scale or mixture hyperprior with a spatial context model (Minnen et al. 2018,
  Cheng et al. 2020, He et al. 2021): y's parameters come from ψ and from the already-decoded
  neighbours of each element, so decoding visits y in groups, in an order (`_code`) that the
  subclasses define: `RasterScanCodec` position by position, `CheckerboardCodec` in two
  passes.

  ::

      y ──► h_a ──► z ──► [FactorizedCodec z] ──► ẑ_dec ──► h_s ──► ψ ─────────────┐
      │                                                                              ▼
      ├──► dec_quant ──► ŷ_dec ──► g_c: masked 5×5 conv ──► φ ──► g_ep([φ, ψ]): 1×1 convs
      │                     │                                             │ w, μ, σ
      │                     ▼                                             ▼
      └──────────────► [y codec: ShiftedGaussianCodec or GaussianMixtureCodec] ◄───┘
                                   │
                                   └──► ŷ_dec, bits(y) + bits(z)

  In training the context sees the decoder-path values ŷ_dec, which are what the decoder
  will have (the paper's code feeds it the entropy-path values instead).
  """

  mask = None  # MaskedConv2D's

  def __init__(self, hyper_analysis, hyper_synthesis, entropy_parameters, y_codec, z_codec,
               context_filters, hyper_stride=4, **kwargs):
    super().__init__(hyper_analysis, hyper_synthesis, y_codec, z_codec,
                     entropy_parameters=entropy_parameters, hyper_stride=hyper_stride, **kwargs)
    self.context_model = MaskedConv2D(context_filters, self.mask, name="context_model")

  def context(self, y_hat, integer=False):
    """φ = g_c(ŷ): float32, or with `integer` a `Fixed` from the convolution's integer twin."""
    if integer:
      return self.context_model.integer_layer()(Fixed.from_float(y_hat))
    return self.context_model(tf.cast(y_hat, tf.float32))

  def parameters(self, hyper, y_hat, integer=False):
    """y's parameters everywhere from ψ and the context of `y_hat`; with `integer`, ψ is a
    `Fixed` and every network is its integer twin."""
    context = self.context(y_hat, integer)
    features = Fixed.concat([context, hyper]) if integer else tf.concat([context, hyper], -1)
    return self.y_parameters(features, integer)

  def compress_y(self, y, hyper, coder, dither, integer):
    """The encoder knows every ŷ, so it only visits the groups to compute the parameters the
    decoder will have, and codes all of y at the end in one call."""
    codec = self.y_codec
    dither = 0.0 if dither is None else dither

    def encode_group(state, parameters, select):
      y_hat, symbols, *coded = codec.coded(select(y), parameters, dither, integer)
      state = tuple(array.write(array.size(), value) for array, value in zip(state, coded))
      return state, y_hat, symbols

    arrays = tuple(tf.TensorArray(tf.int32, size=0, dynamic_size=True, infer_shape=False,
                                  element_shape=[None]) for _ in range(3))
    (items, tables, reads), _, symbols = self._code(hyper, arrays, encode_group, integer)
    string = coders.get(coder).encode(items.concat(), tables.concat(), codec.tables(),
                                      reads.concat())
    return tf.reshape(string, [1]), symbols

  def decompress_y(self, string, hyper, coder, dither, integer):
    codec = self.y_codec
    dither = 0.0 if dither is None else dither
    items = tf.cast(tf.reduce_prod(spatial_shape(hyper)) * codec.channels * codec.reads,
                    tf.int64)
    reader = coders.get(coder).reader(string[0], codec.tables(), items)

    def decode_group(state, parameters, select):
      del select
      return codec.decode(reader, state, codec.mixture(parameters, integer), dither, integer)

    state, y_hat, symbols = self._code(hyper, reader.initial, decode_group, integer)
    return y_hat, symbols, reader.finish(state)

  def _code(self, hyper, state, code_group, integer=False):
    """Visits y group by group in the decoder's order, the same operations at both ends:
    `code_group(state, parameters, select)` → (state, ŷ, int32 symbols) for the group whose
    elements `select` picks from a [1, H, W, C] tensor. Returns (state, ŷ, symbols)."""
    raise NotImplementedError
