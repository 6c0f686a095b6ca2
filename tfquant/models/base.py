"""What every architecture shares: the training forward pass, what identifies a model, and
(from `graphs`) compress/decompress."""

import hashlib
import math

import numpy as np
import tensorflow as tf

from tfquant import quantizers
from tfquant.models import variable_rate
from tfquant.models.graphs import CodingGraphs, GraphCache, pad_to_multiple

MS_SSIM_MIN_SIDE = 161  # tf.image.ssim_multiscale: an 11-tap window at the 5th scale (1/16)


class CompressionModel(CodingGraphs, tf.keras.Model):
  """An auto-encoder with latent codecs.

  Subclasses build `analysis`, `synthesis` and `entropy` (a `latent_codecs.LatentCodec`
  for y and its side latents), and set `arch`, `stride` (the input multiple that makes every
  latent's shape exact), `latent_strides` ({latent: image pixels per element}, in string
  order), and `analysis_margin` / `synthesis_margin`: how many latents around a latent the
  transform's outputs there depend on, the overlap of the coding tiles (`tiles.apply`; tests
  measure them).

  `lmbda` is one λ, or a range (low, high) for a variable-rate model (`variable_rate`): then
  `call`, `compress` and `decompress` take a λ in that range (training draws one per example).
  Such a model's `rate_gains` puts a gain of λ per channel (`variable_rate.ChannelGain`)
  after each layer of the analysis and synthesis transforms but their last.

  `call(x, training)` is the training objective; `compress`/`decompress` code for real
  (`graphs.CodingGraphs`).
  """

  arch = None
  stride = None
  latent_strides = None
  analysis_margin = None
  synthesis_margin = None

  def __init__(self, lmbda, distortion, options, rate_gains=False, **kwargs):
    super().__init__(name=self.arch, **kwargs)
    if distortion not in ("mse", "ms-ssim"):
      raise ValueError(f"distortion must be 'mse' or 'ms-ssim', got {distortion!r}.")
    if rate_gains and not isinstance(lmbda, (list, tuple)):
      raise ValueError("rate_gains needs a variable-rate model (a λ range).")
    if isinstance(lmbda, (list, tuple)):
      self.lmbda = [float(v) for v in lmbda]
      self.quantization_step = variable_rate.QuantizationStep(self.lmbda)
    else:
      self.lmbda = float(lmbda)
      self.quantization_step = None
    self.distortion = distortion
    self.options = dict(options, lmbda=self.lmbda, distortion=distortion)
    if rate_gains:  # only then, so that the cards and runs of every other model read as before
      self.options["rate_gains"] = True
    self._graphs = GraphCache()

  @property
  def latent_codecs(self):
    """{name: codec} for every latent that is range coded (one string each)."""
    return self.entropy.latent_codecs

  @property
  def variable_rate(self):
    return self.quantization_step is not None

  def rate_code(self, lmbda):
    """The code a file records for `lmbda` (a variable-rate model's; see `variable_rate`),
    or None for a fixed-rate model, which takes no λ."""
    if not self.variable_rate:
      if lmbda is not None:
        raise ValueError(f"This {self.arch} was trained for one λ ({self.lmbda:g}); only a "
                         "variable-rate model takes a λ.")
      return None
    if lmbda is None:
      raise ValueError(f"This variable-rate {self.arch} needs a λ in "
                       f"[{self.lmbda[0]:g}, {self.lmbda[1]:g}].")
    return int(self.quantization_step.code(lmbda))

  @property
  def num_strings(self):
    return len(self.entropy.latents)

  @property
  def has_integer_parameters(self):
    """Whether coding can choose its tables with integer entropy parameters
    (`latent_codecs.integer_network`): the same tables on every machine, so files decode
    anywhere. Such models code that way by default; files record which way they were coded."""
    return self.entropy.has_integer_parameters

  def integer_coding(self, integer=None):
    """`integer` (None: the model's default, `has_integer_parameters`), checked."""
    if integer is None:
      return self.has_integer_parameters
    if integer and not self.has_integer_parameters:
      raise ValueError(f"This {self.arch} has no integer entropy parameters (no network "
                       "chooses its tables).")
    return bool(integer)

  @property
  def encoder_variables(self):
    """Variables of the analysis side (frozen in STH-Q's second stage), a variable-rate
    model's quantization steps included: they choose the symbols too."""
    layers = [self.analysis, *self.gains("analysis")] + self.entropy.encoder_layers + (
        [self.quantization_step] if self.variable_rate else [])
    return [v for layer in layers for v in layer.trainable_variables]

  @property
  def quantizer_layers(self):
    return [q for codec in self.latent_codecs.values() for q in codec.quantizer_layers]

  def build_variables(self):
    """Ends a subclass's __init__: keeps the entropy side in float32, records the quantizer
    specs and creates all variables.

    Under a mixed-precision policy only the transforms compute in bfloat16 or float16: the
    quantizers, the rate and every layer that predicts a probability (hyper transforms,
    context, entropy parameters) stay float32, so that the rate term keeps its precision and
    the coding path is the same whatever policy a model was trained under.
    """
    for layer in self.entropy._flatten_layers():  # pylint: disable=protected-access
      layer._set_dtype_policy("float32")  # pylint: disable=protected-access
    for name, codec in self.latent_codecs.items():
      prefix = "" if name == "y" else f"{name}_"
      config = codec.get_config()
      self.options[f"{prefix}ent_quant"] = config["ent_quant"]
      self.options[f"{prefix}dec_quant"] = config["dec_quant"]
    if self.options.get("rate_gains"):
      self.analysis_gains, self.synthesis_gains = (
          [variable_rate.ChannelGain(self.lmbda, name=f"{transform.name}_gain_{i}")
           for i in range(len(transform.layers) - 1)]
          for transform in (self.analysis, self.synthesis))
      for transform in (self.analysis, self.synthesis):
        transform.build()  # `transform` calls its layers one by one, never the whole
    side = self.min_training_side()
    self(tf.zeros([1, side, side, 3]), training=True, step=0)

  def gains(self, transform):
    """A rate-gained model's gains between the layers of "analysis" or "synthesis"."""
    return list(getattr(self, f"{transform}_gains", []))

  def transform(self, name, inputs, lmbda=None):
    """The analysis or synthesis transform (`name`) of `inputs`, with a rate-gained model's
    gains at λ `lmbda` (one per example, or one) between its layers."""
    transform, gains = getattr(self, name), self.gains(name)
    if not gains:
      return transform(inputs)
    for layer, gain in zip(transform.layers, gains + [None]):
      inputs = layer(inputs)
      if gain is not None:
        inputs = gain(inputs, lmbda)
    return inputs

  def min_training_side(self):
    """The smallest image side a training step takes: one latent pixel, or what MS-SSIM
    needs."""
    if self.distortion == "ms-ssim":
      return self.stride * math.ceil(MS_SSIM_MIN_SIDE / self.stride)
    return self.stride

  def call(self, x, training=None, step=None, lmbda=None):
    """x: float images in [0, 1], NHWC. Returns the loss terms and the reconstruction.

    A variable-rate model's `lmbda` is one λ or one per example; by default, in training, λ
    drawn log-uniformly per example, else the range's geometric middle."""
    if self.variable_rate:
      if lmbda is None:
        lmbda = (self.quantization_step.sample(tf.shape(x)[0]) if training else
                 tf.constant(self.quantization_step.middle))
      lmbda = tf.broadcast_to(tf.reshape(tf.cast(lmbda, tf.float32), [-1]), tf.shape(x)[:1])
    return self.latent_objective(x, self.coded_latent(x, lmbda), training, step, lmbda)

  def coded_latent(self, x, lmbda=None):
    """The latent the coder transmits for images `x`: y, or a variable-rate model's y/Δ(λ)
    (float32) with `lmbda` one λ per example."""
    y = self.transform("analysis", pad_to_multiple(tf.cast(x, self.compute_dtype), self.stride),
                       lmbda)
    if not self.variable_rate:
      return y
    y = tf.cast(y, tf.float32)
    return y / self.quantization_step(y, lmbda)

  def latent_objective(self, x, latent, training=None, step=None, lmbda=None):
    """`call`'s loss terms and reconstruction from the coded latent: y, or a variable-rate
    model's y/Δ(λ) with `lmbda` one λ per example (what `compress` transmits, and what an
    encoder may choose otherwise than the analysis transform: `refine`)."""
    shape = tf.shape(x)
    y_dec, bits = self.entropy(latent, training=training, step=step)
    if self.variable_rate:
      y_dec = y_dec * self.quantization_step(latent, lmbda)
    x_hat = self.transform("synthesis", tf.cast(y_dec, self.compute_dtype), lmbda)
    x_hat = x_hat[:, :shape[1], :shape[2], :]

    x = tf.cast(x, tf.float32)
    x_hat = tf.cast(x_hat, tf.float32)
    num_pixels = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
    result = {f"bpp_{name}": tf.reduce_sum(b) / num_pixels for name, b in bits.items()}
    result["bpp"] = tf.add_n(list(result.values()))
    result["mse"] = tf.reduce_mean(tf.math.squared_difference(255.0 * x, 255.0 * x_hat))
    if self.distortion == "mse":
      distortion = result["mse"]
    else:
      result["ms_ssim"] = tf.reduce_mean(tf.image.ssim_multiscale(x, x_hat, 1.0))
      distortion = 1.0 - result["ms_ssim"]
    if self.variable_rate:  # λ·D + R per example
      per_image = [tf.reduce_sum(b, axis=tf.range(1, tf.rank(b))) for b in bits.values()]
      rate = tf.add_n(per_image) / tf.cast(shape[1] * shape[2], tf.float32)
      result["loss_per_image"] = lmbda * self._distortion_per_image(x, x_hat) + rate
      result["loss"] = tf.reduce_mean(result["loss_per_image"])
    else:
      result["loss"] = self.lmbda * distortion + result["bpp"]
    result["x_hat"] = x_hat
    return result

  def _distortion_per_image(self, x, x_hat):
    if self.distortion == "mse":
      return tf.reduce_mean(tf.math.squared_difference(255.0 * x, 255.0 * x_hat), [1, 2, 3])
    return 1.0 - tf.image.ssim_multiscale(x, x_hat, 1.0)

  def weights_hash(self):
    """SHA-256 (first 16 hex digits) of every variable, range-coding tables included."""
    digest = hashlib.sha256()
    for variable in self.variables:
      value = np.ascontiguousarray(variable.numpy())
      digest.update(str((value.dtype.str, value.shape)).encode())
      digest.update(value.tobytes())
    return digest.hexdigest()[:16]

  def identifier(self):
    """What identifies this model in the files it writes (all values strings; a file
    carries its `coding.fingerprint`): architecture, λ, weights, and `quant`, y's
    "entropy/decoder" quantizer pair (`z_quant` too where z's pair differs)."""
    options = self.get_config()

    def pair(prefix):
      return "/".join(quantizers.canonical_name(options[f"{prefix}{role}_quant"]["name"])
                      for role in ("ent", "dec"))

    lmbda = ("/".join(repr(v) for v in self.lmbda) if self.variable_rate else
             repr(options["lmbda"]))
    identifier = {"arch": self.arch, "lmbda": lmbda, "quant": pair(""),
                  "weights": self.weights_hash()}
    if "z_ent_quant" in options and pair("z_") != identifier["quant"]:
      identifier["z_quant"] = pair("z_")
    return identifier

  def finalize(self):
    """Freezes every latent's range-coding tables from the trained entropy models, and (at
    the next compress or decompress) the coding graphs' kernels from the current weights."""
    for codec in self.latent_codecs.values():
      codec.finalize()
    self._graphs.functions.clear()

  @property
  def finalized(self):
    return all(codec.finalized for codec in self.latent_codecs.values())

  def get_config(self):
    return dict(self.options)
