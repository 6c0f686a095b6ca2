"""File-level coding for the command line: image file ⇄ .tfq file, written atomically."""

import io
import os
import tempfile

import numpy as np
from PIL import Image

from tfquant import coding, data, refine
from tfquant.coding import container
from tfquant.models import variable_rate


def _umask_mode():
  """0666 less the process umask: the mode `open` gives a new file (mkstemp's is 0600)."""
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


def write_atomically(path, payload):
  """Writes bytes so that `path` is either untouched or complete, never half-written."""
  directory = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(directory):
    raise FileNotFoundError(f"Cannot write {path}: {directory} is not a folder.")
  if os.path.isdir(path):
    raise IsADirectoryError(f"Cannot write {path}: it is a folder.")
  fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    os.fchmod(fd, _umask_mode())
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
    os.replace(temporary, path)
  except BaseException:
    os.unlink(temporary)
    raise


def _check_refinable(refine_steps, dither_seed):
  if refine_steps and dither_seed is not None:
    raise ValueError("Refinement searches for the latent the coder rounds without a dither: "
                     "refine or dither, not both.")


def _refined_encode(model, image, refine_steps, lmbda=None, refine_precision="auto",
                    **coding_args):
  """`coding.encode`, with the latent `refine_steps` of search (in `refine_precision`) chose
  (0: the analysis transform's)."""
  _check_refinable(refine_steps, coding_args.get("dither_seed"))
  latent = refine.refined_latent(model, image, refine_steps, lmbda, precision=refine_precision)[
      0] if refine_steps else None
  return coding.encode(model, image, lmbda=lmbda, latent=latent, **coding_args)


def compress_file(model, source, destination, dither_seed=None, coder=coding.coders.DEFAULT,
                  lmbda=None, refine_steps=0, refine_precision="auto"):
  """Codes an image file (a variable-rate model at `lmbda`; with `refine_steps` of search for
  its latent, in `refine_precision`); returns (image shape, bytes written)."""
  image = data.read_image(source)
  payload = _refined_encode(model, image, refine_steps, lmbda, refine_precision,
                            dither_seed=dither_seed, coder=coder)
  write_atomically(destination, payload)
  return image.shape, len(payload)


def _choose(rates, target_bpp, strict):
  """The index of the rate closest to `target_bpp` or, `strict`, of the largest at or under
  it (None if none is)."""
  if strict:
    fitting = [i for i, rate in enumerate(rates) if rate <= target_bpp]
    return max(fitting, key=lambda i: rates[i]) if fitting else None
  return min(range(len(rates)), key=lambda i: abs(rates[i] - target_bpp))


def _payloads_near(model, image, target_bpp, **coding_args):
  """[(λ, file)]: a fixed-rate model's file (λ None); for a variable-rate model, the files of
  a bisection over its rate codes towards `target_bpp` (some 17 encodings), the last two
  bracketing it."""
  if not model.variable_rate:
    return [(None, coding.encode(model, image, **coding_args))]
  bits = 8.0 / (image.shape[0] * image.shape[1])
  tried = {}

  def rate(code):
    lmbda = float(model.quantization_step.lmbda(code))
    tried[code] = lmbda, coding.encode(model, image, lmbda=lmbda, **coding_args)
    return bits * len(tried[code][1])

  low, high = 0, variable_rate.RATE_CODE_MAX
  if rate(low) < target_bpp < rate(high):
    while high - low > 1:
      middle = (low + high) // 2
      if rate(middle) <= target_bpp:
        low = middle
      else:
        high = middle
  return list(tried.values())


def compress_to_target(models, source, destination, target_bpp, strict=False, dither_seed=None,
                       coder=coding.coders.DEFAULT, refine_steps=0, refine_precision="auto"):
  """Codes an image file with each of `models` (a variable-rate one at the λ a bisection on
  the file size finds) and keeps the file whose real rate is closest to `target_bpp` or,
  `strict`, the largest at or under it (tfci's --target_bpp and --bpp_strict). With
  `refine_steps`, the file chosen is coded again with a refined latent, which is kept unless
  `strict` and it no longer fits. Returns (image shape, bytes written, index of the model
  chosen)."""
  image = data.read_image(source)
  pixels = image.shape[0] * image.shape[1]
  coding_args = dict(dither_seed=dither_seed, coder=coder)
  _check_refinable(refine_steps, dither_seed)
  candidates = [(index, lmbda, payload) for index, model in enumerate(models)
                for lmbda, payload in _payloads_near(model, image, target_bpp, **coding_args)]
  rates = [8 * len(payload) / pixels for _, _, payload in candidates]
  chosen = _choose(rates, target_bpp, strict)
  if chosen is None:
    raise ValueError(f"no model codes {source} at or under {target_bpp} bpp (the smallest "
                     f"file is {min(rates):.4f} bpp)")
  index, lmbda, payload = candidates[chosen]
  if refine_steps:
    refined = _refined_encode(models[index], image, refine_steps, lmbda, refine_precision,
                              **coding_args)
    if not strict or 8 * len(refined) / pixels <= target_bpp:
      payload = refined
  write_atomically(destination, payload)
  return image.shape, len(payload), index


def file_fingerprint(source):
  """The model fingerprint in a .tfq file's header (raises BitstreamError if it has none)."""
  with open(source, "rb") as f:
    return container.unpack(f.read()).fingerprint


def decompress_file(model, source, destination, max_pixels=None):
  """Decodes a .tfq file to PNG; returns the image shape."""
  with open(source, "rb") as f:
    payload = f.read()
  image = coding.decode(model, payload, max_pixels=max_pixels or coding.DEFAULT_MAX_PIXELS)
  write_atomically(destination, png_bytes(image))
  return image.shape


def png_bytes(image):
  buffer = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def describe(source):
  """A human-readable summary of a .tfq file's header."""
  with open(source, "rb") as f:
    payload = f.read()
  bitstream = container.unpack(payload)
  height, width = bitstream.image_shape
  lines = [f"file: {source} ({len(payload)} bytes, "
           f"{8 * len(payload) / (height * width):.4f} bpp; header and checksums "
           f"{container.overhead(payload)} bytes)",
           f"format version: {payload[4]}",
           f"coder: {bitstream.coder}",
           f"U-Q dither seed: {bitstream.dither_seed}" if bitstream.dither_seed else
           "U-Q dither: no",
           f"rate code: {bitstream.rate_code} (a variable-rate model's λ)"
           if bitstream.rate_code is not None else "rate: the model's one λ",
           "entropy parameters: " + ("integer (decodes on any machine)" if bitstream.integer
                                     else "float (the writer's kind of CPU kernels)"),
           f"image: {width}x{height}",
           f"model fingerprint: {bitstream.fingerprint.hex()}",
           f"symbol CRC-32: {bitstream.symbol_checksum:08x}"]
  if bitstream.side_info_checksum is not None:
    lines.append(f"side information check: {bitstream.side_info_checksum:04x}")
  for index, string in enumerate(bitstream.strings):
    lines.append(f"string {index}: {len(string)} bytes")
  return "\n".join(lines)


def describe_model(model, source):
  """Whether `model` wrote the .tfq file `source`, and the model's full identifier."""
  with open(source, "rb") as f:
    bitstream = container.unpack(f.read())
  identifier = model.identifier()
  match = coding.fingerprint(identifier) == bitstream.fingerprint
  rate = []
  if match and bitstream.rate_code is not None:
    lmbda = float(model.quantization_step.lmbda(bitstream.rate_code))
    rate = [f"coded at λ={lmbda:.6g} (rate code {bitstream.rate_code})"]
  return "\n".join(rate + [
      "model: " + ", ".join(f"{k}={v}" for k, v in sorted(identifier.items())),
      f"model fingerprint: {coding.fingerprint(identifier).hex()} "
      f"({'wrote this file' if match else 'did NOT write this file'})"])
