"""Coding with a `CompressionModel`: `compress` and `decompress` as compiled graphs (one per
coder, dither and entropy-parameter path), and the same in plain TensorFlow ops to trace into
an export. Strings come from the latent codecs' coders; the checks that guard a decoder come
from `checks`."""

import functools
import warnings

import tensorflow as tf

from tfquant import quantizers
from tfquant.coding import coders
from tfquant.coding.container import BitstreamError
from tfquant.latent_codecs import raster_scan
from tfquant.models import checks, layers, tiles, variable_rate


def pad_to_multiple(x, multiple):
  """Pads NHWC `x` at the bottom/right to a multiple of `multiple` by repeating edge pixels."""
  shape = tf.shape(x)
  padded = [(shape[axis] + multiple - 1) // multiple * multiple for axis in (1, 2)]
  rows = tf.minimum(tf.range(padded[0]), shape[1] - 1)
  cols = tf.minimum(tf.range(padded[1]), shape[2] - 1)
  return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


def as_rgb(image):
  """Returns `image` (H×W×C uint8-like array) as H×W×3, converting grayscale with a warning."""
  shape = getattr(image, "shape", None)
  if shape is None or len(shape) != 3:
    raise ValueError(f"Expected an image of shape (height, width, channels), got {shape}.")
  if shape[0] == 0 or shape[1] == 0:
    raise ValueError(f"Image has no pixels (shape {tuple(shape)}).")
  channels = shape[2]
  if channels == 3:
    return image
  if channels == 1:
    warnings.warn("Grayscale image: replicating its channel to RGB.")
    return tf.repeat(image, 3, axis=-1)
  raise ValueError(f"Expected an RGB (3-channel) or grayscale image, got {channels} channels; "
                   "convert RGBA or other modes to RGB first.")


class GraphCache:
  """Compiled compress/decompress per (kind, coder, dithered); not a dict, so that Keras
  doesn't track (and try to checkpoint) it."""

  def __init__(self):
    self.functions = {}


class CodingGraphs:
  """`compress` / `decompress` of a `CompressionModel` (which builds `analysis`, `synthesis`
  and `entropy`, and holds a `GraphCache` in `_graphs`)."""

  def dither(self, seed):
    """U-Q's per-image dither u for a seed (2 ints), as `quantizers.Universal` draws it.

    Coding with it transmits round(y − m + u) and decodes round(y − m + u) − u + m, U-Q's
    own inference; it needs a U-Q decoder quantizer on y.
    """
    if self.latent_codecs["y"].dec_quant.canonical != "universal":
      raise ValueError("Dithered coding needs U-Q ('universal') as y's decoder quantizer.")
    return tf.reshape(quantizers.Universal.dither(1, seed), [])

  def compress(self, image, dither_seed=None, coder=coders.DEFAULT, integer=None,
               rate_code=None, latent=None):
    """Codes one H×W×3 uint8 image. Returns (image shape, checksums, *strings) as tensors;
    the checksums are `checks.symbol_checksums`.

    `latent`, if given, is coded instead of the analysis transform's: the coded latent
    [1, h, w, C] (a variable-rate model's y/Δ at `rate_code`), e.g. `refine.refined_latent`'s.
    The file is an ordinary one: the decoder never knows.

    A variable-rate model codes at `rate_code` (`rate_code(λ)`), which `decompress` must be
    given too; a fixed-rate model takes none.

    With `dither_seed` (2 ints; see `dither`) y is coded with U-Q's dither, and the same seed
    must be given to `decompress`; `coder` is the entropy coder back-end ("tfc" or "tf");
    `integer` whether y's tables come from integer entropy parameters (`integer_coding`:
    None is the model's default), and `decompress` must be told the same.
    """
    image = as_rgb(tf.convert_to_tensor(image))
    if image.dtype != tf.uint8:
      raise ValueError(f"Expected a uint8 image, got {image.dtype.name}.")
    rate = self._rate_inputs(rate_code)
    dithered, integer = dither_seed is not None, self.integer_coding(integer)
    if latent is None:
      return self._graph("compress", coder, dithered, integer)(
          image, self._dither_value(dither_seed), *rate)
    latent = tf.convert_to_tensor(latent, tf.float32)
    expected = self.latent_shape(tf.shape(image)[:2])
    if latent.shape.rank != 4 or list(latent.shape) != [int(v) for v in expected]:
      raise ValueError(f"Expected a coded latent of shape {[int(v) for v in expected]} for a "
                       f"{image.shape[0]}x{image.shape[1]} image, got {latent.shape}.")
    return self._graph("compress_latent", coder, dithered, integer)(
        latent, tf.shape(image)[:2], self._dither_value(dither_seed), *rate)

  def decompress(self, image_shape, checksums, *strings, dither_seed=None,
                 coder=coders.DEFAULT, integer=None, rate_code=None):
    """Inverse of `compress`: returns the H×W×3 uint8 reconstruction. Raises
    `BitstreamError` when the decoded symbols fail `checksums` (damaged strings, a forged
    shape, or a decoder that drifted from its encoder; a side-information check of −1 is
    skipped) or the coder found the strings damaged; the synthesis transform does not run
    then, nor does y's decoder when the side information fails."""
    if len(strings) != self.num_strings:
      raise ValueError(f"{self.arch} takes {self.num_strings} strings, got {len(strings)}.")
    checksums = tf.constant(checksums, tf.int64) if not tf.is_tensor(checksums) else checksums
    image, actual, ok = self._graph("decompress", coder, dither_seed is not None,
                                    self.integer_coding(integer))(
        self._dither_value(dither_seed), *self._rate_inputs(rate_code), image_shape, checksums,
        *strings)
    expected = [int(v) for v in checksums.numpy()]
    if expected[1] >= 0 and int(actual[1]) != expected[1]:
      raise BitstreamError(f"Decoded side information fails its check ({int(actual[1]):04x}, "
                           f"file says {expected[1]:04x}): the header or the strings are "
                           "damaged, or this decoder computes other probabilities than the "
                           "encoder did.")
    if not bool(ok):
      raise BitstreamError("The coded strings are damaged (the entropy decoder did not end "
                           "where its encoder did).")
    if int(actual[0]) != expected[0]:
      raise BitstreamError(f"Decoded symbols fail their checksum ({int(actual[0]):08x}, file "
                           f"says {expected[0]:08x}): the strings are damaged, or this "
                           "decoder computes other probabilities than the encoder did.")
    return image

  @property
  def latent_channels(self):
    """y's channels."""
    return self.latent_codecs["y"].channels

  def latent_shape(self, image_shape):
    """The coded latent's shape [1, h, w, C] for an image of `image_shape` (height, width)."""
    padded = [(int(side) + self.stride - 1) // self.stride * self.stride for side in image_shape]
    return [1] + [side // self.latent_strides["y"] for side in padded] + [self.latent_channels]

  def _graph(self, kind, coder, dithered, integer):
    """The compiled `compress_tensors` / `decompress_tensors` for a coder, with or without
    dither, with integer or float entropy parameters."""
    key = (kind, coders.check(coder), dithered, integer)
    if key not in self._graphs.functions:
      rate = [tf.TensorSpec([], tf.int32)] if self.variable_rate else []
      if kind == "compress":
        signature = [tf.TensorSpec([None, None, 3], tf.uint8), tf.TensorSpec([], tf.float32)
                     ] + rate
        function = self.compress_tensors
      elif kind == "compress_latent":
        signature = [tf.TensorSpec([1, None, None, self.latent_channels], tf.float32),
                     tf.TensorSpec([2], tf.int32), tf.TensorSpec([], tf.float32)] + rate
        function = self.compress_latent_tensors
      else:
        signature = [tf.TensorSpec([], tf.float32)] + rate + [
            tf.TensorSpec([2], tf.int32), tf.TensorSpec([2], tf.int64)] + [
                tf.TensorSpec([1], tf.string)] * self.num_strings
        function = self.decompress_tensors
      function = functools.partial(function, coder=coder, dithered=dithered, integer=integer)
      # Control flow in coding is explicit (tf.cond, tf.while_loop): AutoGraph would only
      # re-transpile every layer's source, a large part of each trace.
      graph = tf.function(function, input_signature=signature, autograph=False)
      # traced once, here: the signature is fixed
      with layers.constant_kernels.on(), raster_scan.compiled_positions.on():
        graph.get_concrete_function()
      self._graphs.functions[key] = graph
    return self._graphs.functions[key]

  def _dither_value(self, seed):
    return tf.constant(0.0) if seed is None else self.dither(seed)

  def _rate_inputs(self, rate_code):
    """The graphs' rate input: [code] for a variable-rate model, [] for a fixed-rate one."""
    if not self.variable_rate:
      if rate_code is not None:
        raise ValueError(f"This {self.arch} was trained for one λ: it takes no rate code.")
      return []
    if rate_code is None or not 0 <= int(rate_code) <= variable_rate.RATE_CODE_MAX:
      raise ValueError(f"This variable-rate {self.arch} needs a rate code (`rate_code(λ)`), "
                       f"got {rate_code!r}.")
    return [tf.constant(int(rate_code), tf.int32)]

  def _checked_header(self, image_shape, rate_code):
    """What the checksums cover before the symbols: the image's height and width, and a
    variable-rate file's rate code (a forged one changes every pixel)."""
    if rate_code is None:
      return image_shape
    return tf.concat([tf.cast(image_shape, tf.int32), tf.reshape(rate_code, [1])], 0)

  def _quantization_step(self, latent, rate_code):
    return self.quantization_step(latent, self.quantization_step.lmbda(rate_code))

  def _coding_transform(self, name, rate_code):
    """The transform as the coder runs it: at the λ the file records, not the one asked for."""
    if not self.gains(name):
      return getattr(self, name)
    lmbda = self.quantization_step.lmbda(rate_code)
    return lambda inputs: self.transform(name, inputs, lmbda)

  def compress_tensors(self, image, dither=0.0, rate_code=None, coder=coders.DEFAULT,
                       dithered=False, integer=False):
    """`compress` in TensorFlow ops, to trace into any graph (an export's signatures):
    (image shape, checksums, *strings) for a uint8 H×W×3 `image` (and a variable-rate
    model's int32 `rate_code`)."""
    x = tf.cast(image, self.compute_dtype)[None] / 255.0
    y = tiles.apply(self._coding_transform("analysis", rate_code),
                    pad_to_multiple(x, self.stride), self.analysis_margin,
                    self.latent_strides["y"], 1, self.compute_dtype)
    if self.variable_rate:
      y = tf.cast(y, tf.float32)
      y /= self._quantization_step(y, rate_code)
    return self.compress_latent_tensors(y, tf.shape(image)[:2], dither, rate_code, coder=coder,
                                        dithered=dithered, integer=integer)

  def compress_latent_tensors(self, y, image_shape, dither=0.0, rate_code=None,
                              coder=coders.DEFAULT, dithered=False, integer=False):
    """`compress_tensors` from the coded latent `y` (`compress`'s `latent`) of an image of
    `image_shape` [2]."""
    strings, symbols = self.entropy.compress(y, coder=coder, dither=dither if dithered else None,
                                             integer=integer)
    header = self._checked_header(image_shape, rate_code)
    return (image_shape, checks.symbol_checksums(header, symbols)) + tuple(strings)

  def decompress_tensors(self, dither, *inputs, coder=coders.DEFAULT, dithered=False,
                         integer=False):
    """`decompress` in TensorFlow ops: (uint8 image, the decoded symbols' checksums, ok). The
    caller refuses the result unless ok and the checksums are `checksums`. The costly parts
    run only for strings that pass the checks before them: y's decoder only when the side
    information passes its check (`checksums[1]`, skipped when −1), the synthesis transform
    only when every symbol passes (an empty image otherwise).

    `inputs`: a variable-rate model's int32 rate code, then the image shape, the checksums
    and the strings."""
    rate_code = inputs[0] if self.variable_rate else None
    image_shape, checksums, *strings = inputs[1:] if self.variable_rate else inputs
    header = self._checked_header(image_shape, rate_code)
    padded = (image_shape + self.stride - 1) // self.stride * self.stride

    def accept_side_info(side_symbols):
      actual = checks.side_info_checksum(header, side_symbols)
      return (checksums[1] < 0) | tf.equal(actual, checksums[1])

    y_hat, symbols, ok = self.entropy.decompress(
        list(strings), padded // self.latent_strides["y"], coder=coder,
        dither=dither if dithered else None, integer=integer, accept_side_info=accept_side_info)
    actual = checks.symbol_checksums(header, symbols, decoded=ok)

    def reconstruct():
      latent = y_hat * self._quantization_step(y_hat, rate_code) if self.variable_rate else y_hat
      pixels = tiles.apply(self._coding_transform("synthesis", rate_code),
                           tf.cast(latent, self.compute_dtype),
                           self.synthesis_margin, 1, self.latent_strides["y"], tf.uint8,
                           finish=tiles.to_pixels)
      return pixels[0, :image_shape[0], :image_shape[1], :]

    image = tf.cond(ok & tf.equal(actual[0], checksums[0]), reconstruct,
                    lambda: tf.zeros([0, 0, 3], tf.uint8))
    return image, actual, ok
