"""The entropy coder back-ends, by name: both code int32 symbols under `IndexedTables`
(or bits under `BinaryTables`).

    "tfc"  tensorflow-compression's range coder (custom C++ ops)
    "tf"   interleaved rANS in stock TensorFlow ops (`rans.py`): a SavedModel using it runs
           on any TensorFlow runtime, TF Serving included

A bitstream records which one wrote it (its index in `container.CODERS`). Latent codecs turn
latents into symbols and table indexes; coders turn those into strings and back, and never see
a model.
`decode` returns (symbols, ok): ok is False when the coder noticed a damaged string.
"""

import tensorflow as tf

from tensorflow_compression.python.ops import gen_ops

from tfquant.coding import container, rans

NAMES = container.CODERS
DEFAULT = NAMES[0]  # "tfc"


def check(name):
  if name not in NAMES:
    raise ValueError(f"coder must be one of {NAMES}, got {name!r}.")
  return name


class Coder:
  """`encode(symbols, indexes, tables, read_sizes=None)` → scalar string, and `reader(string,
  tables, count)` → a `Reader` that decodes it read by read (`read_sizes`, default one read:
  runs of symbols a decoder needs before it can go on, e.g. one position of a context
  model). `decode` reads everything at once."""

  @classmethod
  def decode(cls, string, indexes, tables):
    """(int32 symbols shaped like `indexes`, ok). A string too short for that many symbols
    (`IndexedTables.cannot_hold`, e.g. under a forged image shape) is not decoded: TFC's
    range decoder reads zeros past a string's end, and an overflow symbol read there never
    ends its Elias-gamma prefix."""
    def read():
      reader = cls.reader(string, tables, tf.size(indexes, out_type=tf.int64))
      state, symbols = reader.read(reader.initial, tf.reshape(indexes, [-1]))
      return tf.reshape(symbols, tf.shape(indexes)), reader.finish(state)

    def refuse():
      return tf.zeros_like(indexes, tf.int32), tf.constant(False)

    return tf.cond(tables.cannot_hold(string, indexes), refuse, read)


class RangeCoder(Coder):
  """tensorflow-compression's range coder. It codes one stream in order, so any split into
  reads decodes."""

  name = "tfc"

  @staticmethod
  def encode(symbols, indexes, tables, read_sizes=None):
    del read_sizes
    indexes = tf.reshape(tf.cast(indexes, tf.int32), [-1])
    values = tf.reshape(tf.cast(symbols, tf.int32), [-1]) - tf.gather(tables.cdf_offset,
                                                                        indexes)
    handle = gen_ops.create_range_encoder([], tables.cdf)
    handle = gen_ops.entropy_encode_index(handle, indexes, values)
    return gen_ops.entropy_encode_finalize(handle)

  class Reader:
    """State: TFC's decoder handle."""

    def __init__(self, string, tables):
      self.tables = tables
      self.initial = gen_ops.create_range_decoder(tf.reshape(string, []), tables.cdf)

    def read(self, handle, indexes):
      indexes = tf.cast(indexes, tf.int32)
      handle, values = gen_ops.entropy_decode_index(handle, indexes, tf.shape(indexes),
                                                    tf.int32)
      return handle, values + tf.gather(self.tables.cdf_offset, indexes)

    @staticmethod
    def finish(handle):
      return gen_ops.entropy_decode_finalize(handle)

  @classmethod
  def reader(cls, string, tables, count):
    del count
    return cls.Reader(string, tables)


class RansCoder(Coder):
  """Interleaved rANS in stock TensorFlow ops."""

  name = "tf"
  encode = staticmethod(rans.encode_indexed)

  class Reader:
    """State: the lanes' states, the byte pointer and a validity flag (`rans.Reader`)."""

    def __init__(self, string, tables, count):
      self.tables = tables
      self.rans = rans.Reader(string, count)
      self.initial = self.rans.initial

    def read(self, carry, indexes):
      carry, symbols = rans.read_indexed(self.rans, carry, indexes, self.tables)
      return carry, tf.cast(symbols, tf.int32)

    def finish(self, carry):
      return self.rans.finish(carry)

  @classmethod
  def reader(cls, string, tables, count):
    return cls.Reader(string, tables, count)


def get(name):
  return {"tfc": RangeCoder, "tf": RansCoder}[check(name)]
