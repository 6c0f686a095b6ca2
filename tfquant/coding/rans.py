"""Interleaved rANS written in stock TensorFlow ops: a range coder any TensorFlow runs.

tensorflow-compression's range coder is a set of custom C++ ops, so a SavedModel that uses it
needs a TensorFlow (or TF Serving) built with them. This coder needs nothing but TensorFlow,
reads the same frozen CDF tables, and is vectorized: K lanes, each an rANS coder with its own
state, take every K-th symbol, so a `tf.while_loop` runs over rounds of K symbols rather than
over symbols. The encoder runs the rounds backwards (rANS is last-in first-out) and the
decoder forwards; both use integer arithmetic only, so they agree on every machine.

Each lane's state lives in [2²⁴, 2³²) and is renormalized a byte at a time; probabilities
have 16 bits (a state 2⁸ above them keeps rANS within ~10⁻⁴ bit per item of the ideal, even
for the near-certain decisions of bisection). A coded item is (cum, freq) with freq ≥ 1 and cum + freq ≤ 2¹⁶; the item
(0, 2¹⁶) leaves a state unchanged, which pads the last round of a phase. A string is::

    varint K  ·  K final states (4 bytes each, big-endian)  ·  the renormalization bytes

The decoder reads the renormalization bytes in the order it needs them (round by round,
lane by lane), which is the order the encoder's bytes are laid out in. It ends with every
lane back at the initial state and every byte consumed, a check that a damaged string
almost never passes (the container's symbol checksum catches the rest).

Symbols coded under a table of `tables.IndexedTables`: the table's own symbols cost what
they cost in TFC's coder; a value outside a table's range is coded as the table's overflow
symbol, then, after all symbols of its read, its distance u ≥ 0 past the range as
Elias-gamma fields: b = ⌊log2(u + 1)⌋ with P(b) = 2^−(b+1), then the b low bits of u + 1
(uniform). A read is a run of symbols the decoder needs before it can go on (one position
of an autoregressive model): the string is laid out read by read, so `Reader` can decode
them one at a time inside the caller's loop. Under `tables.BinaryTables` (bisection's
decisions) items are bits and there are no escapes.
"""

import math

import tensorflow as tf

from tfquant.coding.tables import BinaryTables

PRECISION = 16
TOTAL = 1 << PRECISION
STATE_LOWER = 1 << 24
STATE_BYTES = 4
SHED_SHIFT = 32 - PRECISION  # item (c, f) sheds a byte from states ≥ f << this
MAX_LANES = 4096
MAX_ESCAPE_BITS = 16  # |distance past a table| < 2^16: far beyond any trained latent
# Lanes cost STATE_BYTES each; aim for at most one lane per this many coded bytes, but at
# most this many rounds (the while loop's length).
BYTES_PER_LANE = 256
TARGET_ROUNDS = 2048
MAX_ROUNDS = 16384


def _as_int64(x):
  return tf.cast(x, tf.int64)


def _pow2(exponent):
  return tf.bitwise.left_shift(tf.constant(1, tf.int64), exponent)


def min_lanes(count):
  """Fewest lanes a string of `count` items may use: bounds the decoder's loop, whatever a
  (forged) string says."""
  return tf.maximum((_as_int64(count) + MAX_ROUNDS - 1) // MAX_ROUNDS, 1)


def choose_lanes(freq):
  """Lanes for items of frequencies `freq` [n]: few enough that their final states cost
  ≲ 1.5% of the string, enough that the loop stays short (TARGET_ROUNDS, at most MAX_ROUNDS)."""
  n = tf.size(freq, out_type=tf.int64)
  bits = tf.reduce_sum(PRECISION - tf.math.log(tf.cast(freq, tf.float64)) / math.log(2.0))
  by_size = tf.cast(bits / (8 * BYTES_PER_LANE), tf.int64)
  by_rounds = (n + TARGET_ROUNDS - 1) // TARGET_ROUNDS
  lanes = tf.maximum(tf.minimum(by_size, by_rounds), min_lanes(n))
  return tf.minimum(lanes, MAX_LANES)


def _pad_rounds(values, lanes, fill):
  """[n] → [rounds, lanes], the last round filled with `fill`."""
  n = tf.size(values, out_type=tf.int64)
  rounds = (n + lanes - 1) // lanes
  padded = tf.concat([values, tf.fill([rounds * lanes - n], tf.cast(fill, values.dtype))], 0)
  return tf.reshape(padded, [rounds, lanes])


def varint(value):
  """LEB128 bytes of a non-negative int64 scalar (uint8 vector)."""
  value = _as_int64(value)
  shifts = tf.range(0, 63, 7, dtype=tf.int64)
  groups = tf.bitwise.bitwise_and(tf.bitwise.right_shift(value, shifts), 127)
  length = tf.maximum(tf.reduce_sum(tf.cast(tf.bitwise.right_shift(value, shifts) > 0,
                                            tf.int32)), 1)
  more = tf.cast(tf.range(length) < length - 1, tf.int64) * 128
  return tf.cast(groups[:length] + more, tf.uint8)


def read_varint(octets, position, max_bytes=4):
  """(value, next position, ok) of the LEB128 varint at `position` of a uint8 vector."""
  size = tf.size(octets, out_type=tf.int64)
  index = position + tf.range(max_bytes, dtype=tf.int64)
  chunk = tf.gather(_as_int64(octets), tf.minimum(index, tf.maximum(size - 1, 0)))
  chunk = tf.where(index < size, chunk, 128)  # a missing byte reads as "more follows"
  ends = tf.cast(chunk < 128, tf.int32)
  found = tf.reduce_any(ends > 0)
  length = tf.cast(tf.argmax(ends), tf.int64) + 1
  weights = _pow2(7 * tf.range(max_bytes, dtype=tf.int64))
  used = tf.range(max_bytes, dtype=tf.int64) < length
  value = tf.reduce_sum(tf.where(used, tf.bitwise.bitwise_and(chunk, 127) * weights, 0))
  return value, position + length, found


def _grid(cum, freq, segment, num_segments, lanes):
  """Lays items out in rounds of `lanes`: segment by segment (ids 0..num_segments−1, each
  starting a fresh round, as `Reader` reads them), in their order within a segment; rounds
  left short are padded with the item (0, 2¹⁶), which leaves a state unchanged."""
  order = tf.argsort(segment, stable=True)
  grouped = tf.gather(segment, order)
  lengths = tf.math.unsorted_segment_sum(tf.ones_like(segment, tf.int64), segment,
                                         num_segments)
  rank = tf.range(tf.size(segment, out_type=tf.int64)) - tf.gather(
      tf.cumsum(lengths, exclusive=True), grouped)
  rounds = (lengths + lanes - 1) // lanes
  slot = (tf.gather(tf.cumsum(rounds, exclusive=True), grouped) + rank // lanes) * lanes + (
      rank % lanes)
  size = tf.reshape(tf.reduce_sum(rounds) * lanes, [1])
  place = lambda values, fill: tf.reshape(tf.tensor_scatter_nd_update(
      tf.fill(size, tf.constant(fill, tf.int64)), slot[:, None],
      tf.gather(_as_int64(values), order)), [-1, lanes])
  return place(cum, 0), place(freq, TOTAL)


def encode_items(cum, freq, segment, num_segments, lanes):
  """rANS-codes items (int [n] each, laid out by `_grid`); returns the string's bytes."""
  cum, freq = _grid(cum, freq, segment, num_segments, lanes)
  rounds = tf.shape(cum, out_type=tf.int64)[0]

  def body(r, state, emitted, counts):
    f, c = freq[r], cum[r]
    limit = tf.bitwise.left_shift(f, SHED_SHIFT)  # a state ≥ this must shed a byte first
    count = tf.cast(state >= limit, tf.int64) + tf.cast(state >= tf.bitwise.left_shift(
        limit, 8), tf.int64)
    shed = tf.bitwise.bitwise_and(state, _pow2(8 * count) - 1)
    state = tf.bitwise.right_shift(state, 8 * count)
    state = tf.bitwise.left_shift(state // f, PRECISION) + state % f + c
    pair = tf.stack([tf.where(count == 2, tf.bitwise.right_shift(shed, 8), shed),
                     tf.bitwise.bitwise_and(shed, 255)], axis=1)
    return r - 1, state, emitted.write(tf.cast(r, tf.int32), pair), counts.write(
        tf.cast(r, tf.int32), count)

  initial = tf.fill([lanes], tf.constant(STATE_LOWER, tf.int64))
  _, state, emitted, counts = tf.while_loop(
      lambda r, *_: r >= 0, body,
      (rounds - 1, initial, tf.TensorArray(tf.int64, size=tf.cast(rounds, tf.int32),
                                           element_shape=[None, 2]),
       tf.TensorArray(tf.int64, size=tf.cast(rounds, tf.int32), element_shape=[None])))
  # No rounds at all (nothing coded): stacking an empty TensorArray of unknown element
  # shape fails, and there is nothing to stack.
  payload = tf.cond(rounds > 0, lambda: _shed_bytes(emitted, counts),
                    lambda: tf.zeros([0], tf.int64))
  shifts = tf.constant([24, 16, 8, 0], tf.int64)
  states = tf.bitwise.bitwise_and(tf.bitwise.right_shift(state[:, None], shifts), 255)
  return tf.cast(tf.concat([_as_int64(varint(lanes)), tf.reshape(states, [-1]), payload], 0),
                 tf.uint8)


def _shed_bytes(emitted, counts):
  counts = tf.reshape(counts.stack(), [-1, 1])
  used = tf.concat([counts >= 1, counts >= 2], axis=1)
  return tf.boolean_mask(tf.reshape(emitted.stack(), [-1, 2]), used)


class Reader:
  """Reads a string of `encode_items` one segment at a time.

  The reader's state is a tuple of tensors (`initial`, then what each read returns), so that
  a `tf.while_loop` can carry it between reads; `finish(state)` says whether the string was
  valid and consumed exactly. `count` is the number of main items the string holds: a
  string claiming fewer lanes than `min_lanes(count)` is refused (nothing decoded) rather
  than decoded in a long loop.
  """

  def __init__(self, string, count):
    octets = _as_int64(tf.io.decode_raw(tf.reshape(string, []), tf.uint8))
    size = tf.size(octets, out_type=tf.int64)
    lanes, position, found = read_varint(octets, tf.constant(0, tf.int64))
    ok = found & (lanes >= min_lanes(count)) & (lanes <= MAX_LANES) & (
        position + STATE_BYTES * lanes <= size)
    self.lanes = tf.where(ok, lanes, min_lanes(count))
    index = position + tf.range(STATE_BYTES * self.lanes)
    heads = tf.reshape(tf.gather(octets, tf.minimum(index, tf.maximum(size - 1, 0))),
                       [-1, STATE_BYTES])
    state = tf.reduce_sum(heads * tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64), axis=1)
    payload = octets[tf.minimum(position + STATE_BYTES * self.lanes, size):]
    self.size = tf.size(payload, out_type=tf.int64)
    self.payload = tf.concat([payload, [0, 0]], 0)  # reads past the end see zeros (and fail)
    self.initial = (state, tf.constant(0, tf.int64), ok)

  def decode(self, carry, count, lookup):
    """Decodes one segment of `count` items; `lookup(r, slot)` gives (symbol, cum, freq) of
    the items of its round r (int64 [lanes] each) whose range holds `slot`. Returns the new
    state and the symbols (int64 [count])."""
    state, pointer, ok = carry
    lanes, payload, size = self.lanes, self.payload, self.size
    rounds = tf.where(ok, (count + lanes - 1) // lanes, 0)  # once invalid: nothing to do
    last = size + 1  # the padding
    live = tf.reshape(tf.range(rounds * lanes) < count, [rounds, lanes])  # pads: (0, 2¹⁶)

    def body(r, state, pointer, symbols):
      slot = tf.bitwise.bitwise_and(state, TOTAL - 1)
      symbol, c, f = lookup(r, slot)
      c, f = tf.where(live[r], c, 0), tf.where(live[r], f, TOTAL)
      state = f * tf.bitwise.right_shift(state, PRECISION) + slot - c
      need = tf.cast(state < STATE_LOWER, tf.int64) + tf.cast(state < STATE_LOWER >> 8, tf.int64)
      start = tf.minimum(pointer + tf.cumsum(need, exclusive=True), last)
      first, second = tf.gather(payload, start), tf.gather(payload, tf.minimum(start + 1, last))
      word = tf.where(need == 2, first * 256 + second, first)
      state = tf.where(need > 0, tf.bitwise.left_shift(state, 8 * need) + word, state)
      return r + 1, state, pointer + tf.reduce_sum(need), symbols.write(tf.cast(r, tf.int32),
                                                                          symbol)

    _, state, pointer, symbols = tf.while_loop(
        lambda r, *_: r < rounds, body,
        (tf.constant(0, tf.int64), state, pointer,
         tf.TensorArray(tf.int64, size=tf.cast(rounds, tf.int32), element_shape=[None])))
    symbols = tf.cond(rounds > 0, lambda: tf.reshape(symbols.stack(), [-1])[:count],
                      lambda: tf.zeros([count], tf.int64))
    return (state, pointer, ok & (pointer <= size)), symbols

  def rounds_of(self, values, fill=0):
    """[count] → [rounds, lanes], as `decode` visits them."""
    return _pad_rounds(_as_int64(values), self.lanes, fill)

  def finish(self, carry):
    """True if the string was consumed exactly and every lane is back at its start."""
    state, pointer, ok = carry
    return ok & tf.equal(pointer, self.size) & tf.reduce_all(tf.equal(state, STATE_LOWER))


def _bit_length(values):
  """⌊log2(v)⌋ + 1 for int64 v ≥ 1 (0 for v = 0), exactly."""
  powers = _pow2(tf.range(63, dtype=tf.int64))
  return tf.reduce_sum(tf.cast(values[:, None] >= powers, tf.int64), axis=1)


def _field_items(values, widths):
  """Items for fixed-width fields: value v of w bits has probability 2^-w."""
  freq = _pow2(PRECISION - widths)
  return values * freq, freq


def _length_items(lengths):
  """Items for escape lengths b ∈ [0, 16] under P(b) = 2^-(b+1) (the last two share the
  rest): cum = 2¹⁶ − 2^(16−b), freq = 2^(15−b), and freq 1 for b = 16."""
  cum = TOTAL - _pow2(PRECISION - lengths)
  return cum, tf.where(lengths < PRECISION, _pow2(PRECISION - 1 - tf.minimum(lengths, 15)), 1)


def _length_lookup(r, slot):
  del r
  length = PRECISION - _bit_length(TOTAL - 1 - slot)
  cum, freq = _length_items(length)
  return length, cum, freq


def _field_lookup(widths):
  def lookup(r, slot):
    w = widths(r)
    freq = _pow2(PRECISION - w)
    value = tf.bitwise.right_shift(slot, PRECISION - w)
    return value, value * freq, freq
  return lookup


def _lanes(freq, read_sizes):
  """Lanes for main items of frequencies `freq`: `choose_lanes`, but no more than the
  longest read has items (more would only pad its rounds)."""
  lanes = tf.minimum(choose_lanes(freq), tf.maximum(tf.reduce_max(read_sizes), 1))
  return tf.maximum(lanes, min_lanes(tf.size(freq)))


def _reads(count, read_sizes):
  """(int64 read sizes, read id of each of the `count` items)."""
  sizes = tf.reshape(_as_int64(count if read_sizes is None else read_sizes), [-1])
  return sizes, tf.repeat(tf.range(tf.size(sizes, out_type=tf.int64)), sizes)


def encode_indexed(symbols, indexes, tables, read_sizes=None):
  """String (scalar) coding int32 `symbols` under the tables `indexes` pick (same shape).

  `read_sizes` splits the symbols (in C order) into reads that a `Reader` decodes one at a
  time (`read_indexed`), each with its own escapes; default one read.
  """
  symbols, indexes = (_as_int64(tf.reshape(t, [-1])) for t in (symbols, indexes))
  if isinstance(tables, BinaryTables):
    return _encode_binary(symbols, indexes, read_sizes)
  sizes, read = _reads(tf.size(symbols, out_type=tf.int64), read_sizes)
  value = symbols - tf.gather(tables.offsets, indexes)
  overflow = tf.gather(tables.sizes, indexes) - 2  # the overflow symbol's index
  escaped = (value < 0) | (value >= overflow)
  index = tf.where(escaped, overflow, value)
  position = tf.gather(tables.starts, indexes) + index
  cum = tf.gather(tables.values, position)
  freq = tf.gather(tables.values, position + 1) - cum
  distance = tf.boolean_mask(tf.where(value < 0, -2 * value - 1, 2 * (value - overflow)),
                             escaped)
  length = _bit_length(distance + 1) - 1
  check = tf.debugging.assert_less_equal(
      length, tf.constant(MAX_ESCAPE_BITS, tf.int64),
      message="latent value out of the coding range")
  with tf.control_dependencies([check]):
    length_cum, length_freq = _length_items(length)
  mantissa_cum, mantissa_freq = _field_items(distance + 1 - _pow2(length), length)
  # Each read: its symbols, then its escapes' lengths, then their mantissas.
  escaped_read = 3 * tf.boolean_mask(read, escaped)
  return as_string(encode_items(
      tf.concat([cum, length_cum, mantissa_cum], 0),
      tf.concat([freq, length_freq, mantissa_freq], 0),
      tf.concat([3 * read, escaped_read + 1, escaped_read + 2], 0),
      3 * tf.size(sizes, out_type=tf.int64), _lanes(freq, sizes)))


def _binary_items(bits, indexes):
  """Bit b under binary table r (P(0) = (r + 1)/2¹⁶): (cum, freq)."""
  zero = indexes + 1
  return tf.where(bits > 0, zero, 0), tf.where(bits > 0, TOTAL - zero, zero)


def _encode_binary(bits, indexes, read_sizes):
  sizes, read = _reads(tf.size(bits, out_type=tf.int64), read_sizes)
  cum, freq = _binary_items(bits, indexes)
  return as_string(encode_items(cum, freq, read, tf.size(sizes, out_type=tf.int64),
                                _lanes(freq, sizes)))


def read_indexed(reader, carry, indexes, tables):
  """One read of `encode_indexed`: (state, int64 symbols [n]) for table `indexes` [n]."""
  indexes = _as_int64(indexes)
  count = tf.size(indexes, out_type=tf.int64)
  if isinstance(tables, BinaryTables):
    padded = reader.rounds_of(indexes)

    def bit_lookup(r, slot):
      bits = tf.cast(slot > padded[r], tf.int64)  # slot ≥ P(0)·2¹⁶ = index + 1
      return (bits,) + _binary_items(bits, padded[r])

    return reader.decode(carry, count, bit_lookup)
  keys = tf.bitwise.left_shift(reader.rounds_of(indexes), 17)

  def symbol_lookup(r, slot):
    found = tf.searchsorted(tables.search_keys, keys[r] + slot, side="right",
                            out_type=tf.int64) - 1
    return found, tf.gather(tables.values, found), tf.gather(tables.frequencies, found)

  carry, found = reader.decode(carry, count, symbol_lookup)
  index = found - tf.gather(tables.starts, indexes)
  overflow = tf.gather(tables.sizes, indexes) - 2
  escaped = index >= overflow

  def read_escapes(carry):
    escapes = tf.reduce_sum(tf.cast(escaped, tf.int64))
    carry, length = reader.decode(carry, escapes, _length_lookup)
    widths = reader.rounds_of(length)
    carry, mantissa = reader.decode(carry, escapes, _field_lookup(lambda r: widths[r]))
    distance = _pow2(length) + mantissa - 1
    escape_value = tf.where(distance % 2 == 1, -(distance + 1) // 2,
                            tf.boolean_mask(overflow, escaped) + distance // 2)
    return carry, tf.tensor_scatter_nd_update(index, tf.where(escaped), escape_value)

  carry, value = tf.cond(tf.reduce_any(escaped), lambda: read_escapes(carry),
                         lambda: (carry, index))
  return carry, value + tf.gather(tables.offsets, indexes)


def as_string(octets):
  """A scalar string from a vector of byte values."""
  table = tf.constant([bytes([i]) for i in range(256)])
  return tf.strings.reduce_join(tf.gather(table, tf.cast(octets, tf.int32)))
