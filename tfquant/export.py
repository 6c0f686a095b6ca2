"""SavedModel export in TF Serving's layout: compress/decompress signatures on `.tfq` bytes.

    OUT/models.config           a model_config_list for tensorflow_model_server
    OUT/<name>/<version>/       the SavedModel
        signatures  compress:   image (uint8 H×W×3)       -> bitstream_bytes (string)
                                [, lmbda (float): a variable-rate model's λ, as tfci's
                                rd_parameter]
                    decompress: bitstream_bytes (string)  -> image (uint8 H×W×3)
        functions   forward(x float [N,H,W,3] in [0,1], step int64) -> loss, bpp, mse
                    (training mode at that training step, which drives the scheduled
                    quantizers; differentiable w.r.t. `trainable_weights`, for fine-tuning)
        assets/tfquant_model/   the same model in tfquant's format (`tfquant.models.load`)

``tf.saved_model.load(path).signatures["compress"](image=...)["bitstream_bytes"]``.
With `coder="tf"` (pure-TF rANS) loading needs nothing but TensorFlow: stock TF Serving runs
it; with `coder="tfc"` the runtime also needs tensorflow_compression's range-coding ops.
The coding tables are variables of the SavedModel, so encoder and decoder use the same.
"""

import os

import tensorflow as tf

from tfquant import coding, data, models
from tfquant.coding import coders, graph_container

ASSET_MODEL_DIR = "tfquant_model"


# The pure-TF coder: stock TensorFlow runs the export; it met its size and speed goals
# (docs/BENCHMARKS.md).
DEFAULT_CODER = "tf"


def build_module(model, coder=DEFAULT_CODER, max_pixels=coding.DEFAULT_MAX_PIXELS):
  """A tf.Module exposing the export functions; it tracks the model's variables only.

  `coder`: "tf" (pure TensorFlow) or "tfc" (tensorflow-compression's range coder)."""
  if not model.finalized:
    raise ValueError("Only a finalized model (with range-coding tables) can be exported.")
  integer = model.integer_coding()
  prefix = graph_container.prefix_bytes(model.identifier(), coders.check(coder),
                                        model.num_strings, integer, model.variable_rate)
  module = tf.Module()
  module.weights = list(model.variables)
  module.trainable_weights = list(model.trainable_variables)

  # Graph control flow here is explicit (tf.cond, tf.while_loop): no AutoGraph, faster traces.
  image_spec = tf.TensorSpec([None, None, 3], tf.uint8, name="image")
  if model.variable_rate:
    @tf.function(input_signature=[image_spec, tf.TensorSpec([], tf.float32, name="lmbda")],
                 autograph=False)
    def compress(image, lmbda):
      rate_code = model.quantization_step.code(lmbda)
      image_shape, checksums, *strings = model.compress_tensors(
          image, rate_code=rate_code, coder=coder, integer=integer)
      return {"bitstream_bytes": graph_container.pack(prefix, image_shape, checksums, strings,
                                                      rate_code)}
  else:
    @tf.function(input_signature=[image_spec], autograph=False)
    def compress(image):
      image_shape, checksums, *strings = model.compress_tensors(image, coder=coder,
                                                                integer=integer)
      return {"bitstream_bytes": graph_container.pack(prefix, image_shape, checksums, strings)}

  @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="bitstream_bytes")],
               autograph=False)
  def decompress(bitstream_bytes):
    image_shape, checksums, strings, *rate_code = graph_container.unpack(
        bitstream_bytes, prefix, model.num_strings, max_pixels, model.variable_rate)
    image, actual, ok = model.decompress_tensors(0.0, *rate_code, image_shape, checksums,
                                                 *strings, coder=coder, integer=integer)
    checks = [tf.debugging.Assert((checksums[1] < 0) | tf.equal(actual[1], checksums[1]), [
        "Decoded side information fails its check: the header or the strings are damaged, "
        "or a decoder that computes other probabilities than its encoder."])]
    with tf.control_dependencies(checks):
      checks.append(tf.debugging.Assert(ok, ["The coded strings are damaged."]))
    with tf.control_dependencies(checks):
      checks.append(tf.debugging.Assert(tf.equal(actual[0], checksums[0]), [
          "Decoded symbols fail their checksum: damaged strings, or a decoder that computes "
          "other probabilities than its encoder."]))
    with tf.control_dependencies(checks):
      return {"image": tf.identity(image)}

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="x"),
                                 tf.TensorSpec([], tf.int64, name="step")],
               autograph=False)
  def forward(x, step):
    result = model(x, training=True, step=step)  # (a variable-rate model: λ per example)
    return {k: result[k] for k in ("loss", "bpp", "mse")}

  module.compress, module.decompress, module.forward = compress, decompress, forward
  return module


def next_version(base_path):
  versions = [int(v) for v in tf.io.gfile.listdir(base_path) if v.strip("/").isdigit()
              ] if tf.io.gfile.isdir(base_path) else []
  return max(versions, default=0) + 1


def write_models_config(out_dir, name):
  """A models.config for `tensorflow_model_server --model_config_file=...`."""
  base_path = os.path.abspath(os.path.join(out_dir, name))
  text = ("model_config_list {\n  config {\n"
          f'    name: "{name}"\n    base_path: "{base_path}"\n'
          '    model_platform: "tensorflow"\n  }\n}\n')
  path = os.path.join(out_dir, "models.config")
  with tf.io.gfile.GFile(path, "w") as f:
    f.write(text)
  return path


def export(model, out_dir, name="tfquant", version=None, coder=DEFAULT_CODER):
  """Writes OUT/<name>/<version>/ and OUT/models.config; returns the version directory."""
  if "://" not in out_dir:
    data.make_folder(out_dir)  # before the graphs are built: a bad path fails at once
  module = build_module(model, coder)
  version = version or next_version(os.path.join(out_dir, name))
  path = os.path.join(out_dir, name, str(version))
  if tf.io.gfile.exists(path):
    raise FileExistsError(f"{path} exists already; pick another --version.")
  tf.saved_model.save(module, path, signatures={
      "compress": module.compress, "decompress": module.decompress,
      "serving_default": module.compress})
  models.save(model, os.path.join(path, "assets", ASSET_MODEL_DIR))
  write_models_config(out_dir, name)
  return path
