"""The `.tfq` container (see `container.py`) written and read with stock TensorFlow ops only.

A SavedModel uses these so that its `compress`/`decompress` signatures produce and consume the
same bytes as the Python library. The model fingerprint, coder and string count are fixed when
the graph is built, so a bitstream from another model (or coder) fails the prefix check.
"""

import tensorflow as tf

from tfquant.coding import container, crc, rans


def int_bytes(values, width):
  """Big-endian bytes of non-negative integers `values` (1-D), each `width` bytes, joined."""
  values = tf.cast(tf.reshape(values, [-1, 1]), tf.int64)
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  octets = tf.bitwise.bitwise_and(tf.bitwise.right_shift(values, shifts), 255)
  return rans.as_string(tf.reshape(octets, [-1]))


def read_uint(octets, offset, width):
  """Big-endian unsigned integer of `width` bytes at `offset` of a uint8 vector, as int64."""
  chunk = tf.cast(octets[offset:offset + width], tf.int64)
  weights = tf.constant([256**(width - 1 - i) for i in range(width)], tf.int64)
  return tf.reduce_sum(chunk * weights)


def prefix_bytes(model_id, coder, num_strings, integer, rate=False):
  """The constant start of every (undithered) stream from this model and coder, with
  integer or float entropy parameters (and, `rate`, a rate code): magic, version, flags,
  fingerprint."""
  version = container.RATE_VERSION if rate else container.VERSION
  return container.MAGIC + bytes([version, container.flags_byte(
      coder, num_strings, False, integer, rate)]) + container.fingerprint(model_id)


def pack(prefix, image_shape, checksums, strings, rate_code=None):
  """Container bytes (scalar string) from the pieces of `CompressionModel.compress_tensors`
  (and a variable-rate model's rate code, which `prefix` announces)."""
  strings = [tf.reshape(s, []) for s in strings]
  sides = tf.cast(image_shape, tf.int64)
  check = tf.debugging.Assert(tf.reduce_all((sides >= 1) & (sides <= container.MAX_SIDE)),
                              [f"Image sides must be 1..{container.MAX_SIDE}."])
  with tf.control_dependencies([check]):
    sizes = [rans.as_string(rans.varint(sides[0])), rans.as_string(rans.varint(sides[1]))]
  lengths = [rans.as_string(rans.varint(tf.strings.length(s))) for s in strings]
  side_info_bytes = container.side_info_bytes(len(strings))
  side_info = [int_bytes(checksums[1], side_info_bytes)] if side_info_bytes else []
  rate = [] if rate_code is None else [int_bytes(rate_code, container.RATE_CODE_BYTES)]
  body = tf.strings.join([tf.constant(prefix)] + sizes + rate + lengths +
                         [int_bytes(checksums[0], 4)] + side_info + strings)
  return body + int_bytes(crc.crc32_bytes(tf.io.decode_raw(body, tf.uint8)), 4)


def unpack(data, prefix, num_strings, max_pixels, rate=False):
  """Parses and checks a container from this model; returns (image shape, checksums as
  `CompressionModel.decompress_tensors` takes them, [strings], and with `rate` (a
  variable-rate model's files) the int32 rate code).

  Every check is a `tf.debugging.Assert` that fails with an InvalidArgumentError naming the
  problem (and never printing the bytes); each runs only after the previous ones passed.
  """
  data = tf.reshape(data, [])
  octets = tf.io.decode_raw(data, tf.uint8)
  size = tf.size(octets, out_type=tf.int64)
  magic = len(container.MAGIC)
  side_info_bytes = container.side_info_bytes(num_strings)
  rate_bytes = container.RATE_CODE_BYTES if rate else 0
  version = container.RATE_VERSION if rate else container.VERSION
  checks = []

  def require(condition, message):
    with tf.control_dependencies(checks):
      checks.append(tf.debugging.Assert(condition(), [message]))

  require(lambda: size >= magic, "Not a tfquant bitstream (too short).")
  require(lambda: tf.equal(tf.strings.substr(data, 0, magic), container.MAGIC),
          "Not a tfquant bitstream (bad magic bytes).")
  require(lambda: size >= len(prefix) + 4 + rate_bytes + 2 * num_strings + side_info_bytes + 4,
          "Truncated bitstream.")
  require(lambda: tf.equal(read_uint(octets, magic, 1), version),
          f"Bitstream format version is not {version}, the one this export reads.")
  require(lambda: tf.equal(crc.crc32_bytes(octets[:-4]), read_uint(octets, size - 4, 4)),
          "Bitstream is corrupted or truncated (CRC-32 mismatch).")
  require(lambda: tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix),
          "Bitstream was written by another model or coder, with U-Q dithering or with the "
          "other entropy parameters (integer or float), which this export does not decode "
          "(flags or fingerprint mismatch).")
  with tf.control_dependencies(checks):
    position = tf.constant(len(prefix), tf.int64)
    fields, valid = [], []
    for index in range(2 + num_strings):
      if index == 2 and rate:
        rate_code = tf.cast(read_uint(octets, position, rate_bytes), tf.int32)
        position += rate_bytes
      value, position, found = rans.read_varint(octets, position)
      fields.append(value)
      valid.append(found)
    image_shape = tf.stack(fields[:2])
    lengths = tf.stack(fields[2:])
  require(lambda: tf.reduce_all(tf.stack(valid)), "Invalid varint in the header.")
  require(lambda: tf.reduce_all((image_shape >= 1) & (image_shape <= container.MAX_SIDE)),
          "Invalid image shape.")
  require(lambda: image_shape[0] * image_shape[1] <= max_pixels,
          "Image exceeds the pixel limit.")
  require(lambda: tf.equal(position + 4 + side_info_bytes + tf.reduce_sum(lengths) + 4, size),
          "String lengths do not match the bitstream's size.")
  with tf.control_dependencies(checks):
    side_info = (read_uint(octets, position + 4, side_info_bytes) if side_info_bytes else
                 tf.constant(-1, tf.int64))
    checksums = tf.stack([read_uint(octets, position, 4), side_info])
    starts = position + 4 + side_info_bytes + tf.concat([[0], tf.cumsum(lengths)[:-1]], 0)
    strings = [tf.strings.substr(data, starts[i], lengths[i])[None]
               for i in range(num_strings)]
  pieces = tf.cast(image_shape, tf.int32), checksums, strings
  return pieces + (rate_code,) if rate else pieces
