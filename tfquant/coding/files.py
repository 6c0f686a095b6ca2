"""File-level coding for the command line: image file ⇄ .tfq file, written atomically."""

import io
import os
import tempfile

import numpy as np
from PIL import Image

from tfquant import coding, data
from tfquant.coding import container


def _umask_mode():
  """0666 less the process umask: the mode `open` gives a new file (mkstemp's is 0600)."""
  umask = os.umask(0)
  os.umask(umask)
  return 0o666 & ~umask


def write_atomically(path, payload):
  """Writes bytes so that `path` is either untouched or complete, never half-written."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
  try:
    os.fchmod(fd, _umask_mode())
    with os.fdopen(fd, "wb") as f:
      f.write(payload)
    os.replace(temporary, path)
  except BaseException:
    os.unlink(temporary)
    raise


def compress_file(model, source, destination, dither_seed=None, coder=coding.DEFAULT_CODER):
  """Codes an image file; returns (image shape, bytes written)."""
  image = data.read_image(source)
  payload = coding.encode(model, image, dither_seed=dither_seed, coder=coder)
  write_atomically(destination, payload)
  return image.shape, len(payload)


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
           f"image: {width}x{height}",
           f"model fingerprint: {bitstream.fingerprint.hex()}",
           f"symbol CRC-32: {bitstream.symbol_checksum:08x}"]
  for index, string in enumerate(bitstream.strings):
    lines.append(f"string {index}: {len(string)} bytes")
  return "\n".join(lines)


def describe_model(model, source):
  """Whether `model` wrote the .tfq file `source`, and the model's full identifier."""
  with open(source, "rb") as f:
    bitstream = container.unpack(f.read())
  identifier = coding.model_id(model)
  match = coding.fingerprint(identifier) == bitstream.fingerprint
  return "\n".join([
      "model: " + ", ".join(f"{k}={v}" for k, v in sorted(identifier.items())),
      f"model fingerprint: {coding.fingerprint(identifier).hex()} "
      f"({'wrote this file' if match else 'did NOT write this file'})"])
