"""The `.tfq` container (see `container.py`) written and read with TensorFlow ops only.

A SavedModel uses these so that its `compress`/`decompress` signatures produce and consume the
same bytes as the Python library, with nothing but tensorflow and tensorflow_compression
loaded. The model identifier and expected string count are fixed when the graph is built, so a
bitstream from another model fails the identifier check.
"""

import struct

import tensorflow as tf

from tfquant.coding import container

_ADLER_MOD = 65521


def _byte_table():
  return tf.constant([bytes([i]) for i in range(256)])


def int_bytes(values, width):
  """Big-endian bytes of non-negative integers `values` (1-D), each `width` bytes, joined."""
  values = tf.cast(tf.reshape(values, [-1, 1]), tf.int64)
  shifts = tf.constant([8 * (width - 1 - i) for i in range(width)], tf.int64)
  octets = tf.bitwise.bitwise_and(tf.bitwise.right_shift(values, shifts), 255)
  return tf.strings.reduce_join(tf.gather(_byte_table(), tf.reshape(octets, [-1])))


def read_uint(octets, offset, width):
  """Big-endian unsigned integer of `width` bytes at `offset` of a uint8 vector, as int64."""
  chunk = tf.cast(octets[offset:offset + width], tf.int64)
  weights = tf.constant([256**(width - 1 - i) for i in range(width)], tf.int64)
  return tf.reduce_sum(chunk * weights)


def adler32(octets):
  """zlib's Adler-32 of a uint8 vector, vectorized (int64 sums cannot overflow below 2^40 B)."""
  octets = tf.cast(octets, tf.int64)
  n = tf.cast(tf.size(octets), tf.int64)
  a = (1 + tf.reduce_sum(octets)) % _ADLER_MOD
  b = (n + tf.reduce_sum((n - tf.range(n)) * octets)) % _ADLER_MOD
  return b * 65536 + a


def prefix_bytes(model_id, num_strings):
  """The constant start of every (undithered) stream from this model: magic, version, count,
  flags, identifier."""
  identifier = container.model_id_bytes(model_id)
  return struct.pack(">4sBBBH", container.MAGIC, container.VERSION, num_strings, 0,
                     len(identifier)) + identifier


def pack(prefix, image_shape, latent_shapes, strings):
  """Container bytes (scalar string) from the pieces of `CompressionModel.compress`."""
  strings = [tf.reshape(s, []) for s in strings]
  lengths = tf.stack([tf.strings.length(s) for s in strings])
  entries = [int_bytes(shape, 2) + int_bytes(length[None], 4)
             for shape, length in zip(tf.unstack(latent_shapes), tf.unstack(lengths))]
  body = tf.strings.join([tf.constant(prefix), int_bytes(image_shape, 2)] + entries + strings)
  return body + int_bytes(adler32(tf.io.decode_raw(body, tf.uint8))[None], 4)


def unpack(data, prefix, num_strings, latent_shapes_fn, max_pixels):
  """Parses and checks a container from this model; returns (image shape, [strings]).

  Every check is a `tf.debugging.Assert` that fails with an InvalidArgumentError naming the
  problem (and never printing the bytes). `latent_shapes_fn(image_shape)` gives the int32 [k, 3] shapes the model expects.
  """
  data = tf.reshape(data, [])
  octets = tf.io.decode_raw(data, tf.uint8)
  size = tf.size(octets, out_type=tf.int64)
  fixed = len(prefix) + 4 + 10 * num_strings + 4
  # Each check runs only after the previous ones passed (later ones read what they vouch for).
  checks = []
  for condition, message in (
      (lambda: size >= len(container.MAGIC), "Not a tfquant bitstream (too short)."),
      (lambda: tf.equal(tf.strings.substr(data, 0, len(container.MAGIC)), container.MAGIC),
       "Not a tfquant bitstream (bad magic bytes)."),
      (lambda: size >= fixed, "Truncated bitstream."),
      (lambda: read_uint(octets, 4, 1) <= container.VERSION,
       "Bitstream format version is newer than this model's exporter supports."),
      (lambda: tf.equal(adler32(octets[:-4]), read_uint(octets, size - 4, 4)),
       "Bitstream is corrupted or truncated (checksum mismatch)."),
      (lambda: tf.equal(tf.strings.substr(data, 0, len(prefix)), prefix),
       "Bitstream was written by another model, or with U-Q dithering, which this export "
       "does not decode (identifier or flags mismatch)."),
  ):
    with tf.control_dependencies(checks):
      checks.append(tf.debugging.Assert(condition(), [message]))
  with tf.control_dependencies(checks):
    position = len(prefix)
    image_shape = tf.cast(tf.stack([read_uint(octets, position + i, 2) for i in (0, 2)]),
                          tf.int32)
    position += 4
    entries = [tf.stack([read_uint(octets, position + 10 * i + j, 2) for j in (0, 2, 4)] +
                        [read_uint(octets, position + 10 * i + 6, 4)])
               for i in range(num_strings)]
    lengths = tf.stack([e[3] for e in entries])
    latents = tf.stack([tf.cast(e[:3], tf.int32) for e in entries])
    checks.append(tf.debugging.Assert(tf.reduce_all(image_shape > 0), ["Invalid image shape."]))
  with tf.control_dependencies(checks):
    pixels = tf.reduce_prod(tf.cast(image_shape, tf.int64))
    checks += [
        tf.debugging.Assert(pixels <= max_pixels, ["Image exceeds the pixel limit."]),
        tf.debugging.Assert(tf.reduce_all(tf.equal(latents, latent_shapes_fn(image_shape))),
                            ["Latent shapes do not match the model."]),
        tf.debugging.Assert(tf.equal(tf.reduce_sum(lengths) + fixed, size),
                            ["String lengths do not match the bitstream's size."]),
    ]
  with tf.control_dependencies(checks):
    starts = position + 10 * num_strings + tf.concat([[0], tf.cumsum(lengths)[:-1]], 0)
    strings = [tf.strings.substr(data, starts[i], lengths[i])[None] for i in range(num_strings)]
  return image_shape, strings
