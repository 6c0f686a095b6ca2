"""Bytes in and out: a model's coded pieces in the `.tfq` container, and back."""

import tensorflow as tf

from tfquant.coding import coders, container
from tfquant.coding.container import Bitstream, BitstreamError, fingerprint, pack, unpack

# A decoder allocates the whole latent and its entropy model's activations; the synthesis
# runs in tiles (`models.tiles`), so 8192×8192 decodes in a few GB: refuse larger images unless
# asked (`max_pixels`, `--max_pixels`).
DEFAULT_MAX_PIXELS = 1 << 26


def encode(model, image, identifier=None, dither_seed=None, coder=coders.DEFAULT,
           integer=None, lmbda=None, latent=None):
  """Compresses one H×W×3 uint8 image to container bytes.

  A variable-rate model codes at `lmbda` (within its range; the file records it to 16 bits,
  `CompressionModel.rate_code`); a fixed-rate model takes none.

  With `dither_seed` (two uint32) y is coded with U-Q's dither, and the seed is stored;
  `coder` picks the entropy coder back-end ("tfc" or "tf"), which the file records, as it
  records `integer`: whether y's tables came from integer entropy parameters (None: the
  model's default, see `CompressionModel.integer_coding`). `latent`: the coded latent to
  transmit instead of the analysis transform's (`CompressionModel.compress`).
  """
  integer = model.integer_coding(integer)
  rate_code = model.rate_code(lmbda)
  image_shape, checksums, *strings = model.compress(image, dither_seed, coder=coder,
                                                    integer=integer, rate_code=rate_code,
                                                    latent=latent)
  symbol_checksum, side_info_checksum = (int(v) for v in checksums.numpy())
  return pack(Bitstream(fingerprint(identifier or model.identifier()),
                        tuple(int(v) for v in image_shape.numpy()),
                        tuple(s.numpy()[0] for s in strings), symbol_checksum, coder,
                        dither_seed,
                        side_info_checksum if container.side_info_bytes(len(strings)) else None,
                        integer, rate_code))


def decode(model, data, identifier=None, max_pixels=DEFAULT_MAX_PIXELS):
  """Decompresses container bytes with `model`; refuses streams written by another model,
  images over `max_pixels` (before allocating anything) and symbols that fail their
  checksums (the side information's before y is decoded)."""
  bitstream = unpack(data)
  if bitstream.fingerprint != fingerprint(identifier or model.identifier()):
    raise BitstreamError(f"Bitstream was written by another model (fingerprint "
                         f"{bitstream.fingerprint.hex()}; this model's is "
                         f"{fingerprint(identifier or model.identifier()).hex()}).")
  height, width = bitstream.image_shape
  if height * width > max_pixels:
    raise BitstreamError(f"Image of {height}x{width} exceeds the {max_pixels}-pixel limit "
                         "(raise it with --max_pixels / max_pixels=).")
  if len(bitstream.strings) != model.num_strings:
    raise BitstreamError(f"Bitstream has {len(bitstream.strings)} strings; "
                         f"{model.arch} codes {model.num_strings}.")
  if bitstream.integer and not model.has_integer_parameters:
    raise BitstreamError(f"Bitstream says integer entropy parameters chose its tables; this "
                         f"{model.arch} has none (a damaged or forged header).")
  if (bitstream.rate_code is None) == model.variable_rate:
    raise BitstreamError(f"Bitstream {'lacks' if model.variable_rate else 'has'} a rate code; "
                         f"this {model.arch} is a {'variable' if model.variable_rate else 'fixed'}"
                         "-rate model (a damaged or forged header).")
  strings = [tf.constant([s]) for s in bitstream.strings]
  side_info = bitstream.side_info_checksum
  checksums = [bitstream.symbol_checksum, -1 if side_info is None else side_info]
  try:
    return model.decompress(tf.constant([height, width], tf.int32), checksums, *strings,
                            dither_seed=bitstream.dither_seed, coder=bitstream.coder,
                            integer=bitstream.integer, rate_code=bitstream.rate_code).numpy()
  except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as error:
    raise BitstreamError(f"Decoding failed: the strings are damaged "
                         f"({error.message.splitlines()[0]}).") from None


__all__ = ["BitstreamError", "coders", "encode", "decode", "fingerprint", "pack", "unpack"]
