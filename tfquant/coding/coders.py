"""The entropy coder back-ends, by name: both code int32 symbols under `IndexedTables`.

    "tfc"  tensorflow-compression's range coder (custom C++ ops)
    "tf"   interleaved rANS in stock TensorFlow ops (`rans.py`): a SavedModel using it runs
           on any TensorFlow runtime, TF Serving included

A bitstream records which one wrote it (`CODER_IDS`). Latent codecs turn latents into
symbols and table indexes; coders turn those into strings and back, and never see a model.
`decode` returns (symbols, ok): ok is False when the coder noticed a damaged string.
"""

import tensorflow as tf

from tfquant.coding import rans

NAMES = ("tfc", "tf")
CODER_IDS = {"tfc": 0, "tf": 1}


def check(name):
  if name not in NAMES:
    raise ValueError(f"coder must be one of {NAMES}, got {name!r}.")
  return name


class RangeCoder:
  """tensorflow-compression's range coder (what tfquant's v1 files used)."""

  name = "tfc"

  @staticmethod
  def encode(symbols, indexes, tables):
    from tensorflow_compression.python.ops import gen_ops
    indexes = tf.reshape(tf.cast(indexes, tf.int32), [-1])
    values = tf.reshape(tf.cast(symbols, tf.int32), [-1]) - tf.gather(tables.cdf_offset,
                                                                        indexes)
    handle = gen_ops.create_range_encoder([], tables.cdf)
    handle = gen_ops.entropy_encode_index(handle, indexes, values)
    return gen_ops.entropy_encode_finalize(handle)

  @staticmethod
  def decode(string, indexes, tables):
    from tensorflow_compression.python.ops import gen_ops
    shape = tf.shape(indexes)
    indexes = tf.reshape(tf.cast(indexes, tf.int32), [-1])
    handle = gen_ops.create_range_decoder(tf.reshape(string, []), tables.cdf)
    handle, values = gen_ops.entropy_decode_index(handle, indexes, tf.shape(indexes),
                                                  tf.int32)
    ok = gen_ops.entropy_decode_finalize(handle)
    return tf.reshape(values + tf.gather(tables.cdf_offset, indexes), shape), ok


class RansCoder:
  """Interleaved rANS in stock TensorFlow ops."""

  name = "tf"
  encode = staticmethod(rans.encode_indexed)
  decode = staticmethod(rans.decode_indexed)


def get(name):
  return {"tfc": RangeCoder, "tf": RansCoder}[check(name)]
