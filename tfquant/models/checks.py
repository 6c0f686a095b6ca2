"""What a file's checks cover: CRC-32s of the decoded symbols, computed by the encoder into the
header and again by the decoder over what it decoded (`CompressionModel.decompress` refuses
any difference)."""

import tensorflow as tf

from tfquant.coding import container, crc


def symbol_checksum(header, symbols):
  """CRC-32 (int64) of the header's integers (the image's height and width, and a
  variable-rate file's rate code), then every latent's symbols (int32, in string order, C
  order within): a forged shape that maps to the same latents fails too."""
  return crc.crc32_int32(tf.concat([tf.cast(header, tf.int32)] +
                                   [tf.reshape(s, [-1]) for s in symbols], 0))


def side_info_checksum(header, side_symbols):
  """The container's side-information check: the low 16 bits of `symbol_checksum` over the
  latents after the first (z), which are decoded first and predict the first (y)."""
  return tf.bitwise.bitwise_and(symbol_checksum(header, side_symbols), container.SIDE_INFO_MASK)


def symbol_checksums(header, symbols, decoded=True):
  """int64 [2]: `symbol_checksum` of every latent, and `side_info_checksum` (−1 for a model
  with one latent, which has no side information). The first is −1 unless `decoded` (a bool
  tensor: the coders read the strings whole), so a refused forged shape skips a CRC over
  every position it claims."""
  side = (side_info_checksum(header, symbols[1:]) if len(symbols) > 1 else
          tf.constant(-1, tf.int64))
  whole = tf.cond(tf.convert_to_tensor(decoded), lambda: symbol_checksum(header, symbols),
                  lambda: tf.constant(-1, tf.int64))
  return tf.stack([whole, side])
