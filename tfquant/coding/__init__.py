"""Bytes in and out: a model's coded pieces in the `.tfq` container, and back."""

import hashlib

import numpy as np
import tensorflow as tf

from tfquant import quantizers
from tfquant.coding.container import Bitstream, BitstreamError, Latent, pack, unpack

# A decoder allocates the whole latent; refuse images larger than this unless asked.
DEFAULT_MAX_PIXELS = 1 << 27


def weights_hash(model):
  """SHA-256 (first 16 hex digits) of every variable, range-coding tables included."""
  digest = hashlib.sha256()
  for variable in model.variables:
    value = np.ascontiguousarray(variable.numpy())
    digest.update(str((value.dtype.str, value.shape)).encode())
    digest.update(value.tobytes())
  return digest.hexdigest()[:16]


def model_id(model):
  """What a bitstream records about the model that wrote it (all values strings).

  `quant` is the y latent's "entropy/decoder" quantizer pair; `z_quant` appears only where
  the z latent's pair differs.
  """
  options = model.get_config()

  def pair(prefix):
    return "/".join(quantizers.canonical_name(options[f"{prefix}{role}_quant"]["name"])
                    for role in ("ent", "dec"))

  identifier = {"arch": model.arch, "lmbda": repr(options["lmbda"]), "quant": pair(""),
                "weights": weights_hash(model)}
  if "z_ent_quant" in options and pair("z_") != identifier["quant"]:
    identifier["z_quant"] = pair("z_")
  return identifier


def encode(model, image, identifier=None, dither_seed=None):
  """Compresses one H×W×3 uint8 image to container bytes.

  With `dither_seed` (two uint32) y is coded with U-Q's dither, and the seed is stored.
  """
  pieces = model.compress(image, dither_seed)
  shape = tuple(int(v) for v in pieces[0].numpy())
  latents = tuple(Latent(*s) for s in model.latent_shapes(shape).numpy().tolist())
  strings = tuple(p.numpy()[0] for p in pieces[1:])
  return pack(Bitstream(identifier or model_id(model), shape, latents, strings, dither_seed))


def decode(model, data, identifier=None, max_pixels=DEFAULT_MAX_PIXELS):
  """Decompresses container bytes with `model`; refuses streams written by another model."""
  bitstream = unpack(data)
  identifier = identifier or model_id(model)
  if bitstream.model_id != identifier:
    raise BitstreamError(f"Bitstream was written by another model: {bitstream.model_id}; "
                         f"this model is {identifier}.")
  height, width = bitstream.image_shape
  if height * width > max_pixels:
    raise BitstreamError(f"Image of {height}x{width} exceeds the {max_pixels}-pixel limit.")
  expected = tuple(Latent(*s) for s in
                   model.latent_shapes(bitstream.image_shape).numpy().tolist())
  if bitstream.latents != expected:
    raise BitstreamError(f"Latent shapes {bitstream.latents} do not match the model's "
                         f"{expected} for a {height}x{width} image.")
  strings = [tf.constant([s]) for s in bitstream.strings]
  try:
    return model.decompress(tf.constant([height, width], tf.int32), *strings,
                            dither_seed=bitstream.dither_seed).numpy()
  except tf.errors.InvalidArgumentError as error:
    raise BitstreamError(f"Range decoding failed: the strings are damaged "
                         f"({error.message.splitlines()[0]}).") from None


__all__ = ["BitstreamError", "encode", "decode", "model_id", "weights_hash", "pack", "unpack"]
