"""The pure-TF rANS coder against tensorflow-compression's range coder, on the same tables."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.coding import coders, rans
from tfquant.coding.tables import IndexedTables, quantized_tables

LOG_MIN, LOG_MAX, SCALES = math.log(0.11), math.log(256.0), 64


def scale_level(index):
  return tf.exp(LOG_MIN + (LOG_MAX - LOG_MIN) / (SCALES - 1) * tf.cast(index, tf.float32))


@pytest.fixture(scope="module")
def gaussian_tables():
  model = tfc.LocationScaleIndexedEntropyModel(
      tfc.NoisyNormal, SCALES, scale_level, coding_rank=1, compression=True,
      tail_mass=2**-8, range_coder_precision=16)
  return IndexedTables(model.cdf, model.cdf_offset)


@pytest.fixture(scope="module")
def codecs():
  return {name: (tf.function(coders.get(name).encode), tf.function(coders.get(name).decode))
          for name in coders.NAMES}


def sample(n, seed, escapes=True):
  rng = np.random.RandomState(seed)
  indexes = rng.randint(0, 48, n).astype(np.int32)
  symbols = np.round(rng.randn(n) * scale_level(indexes).numpy()).astype(np.int32)
  if escapes and n >= 6:
    symbols[:6] = [4000, -4000, 65000, -65000, 3, 700]  # far past every table's range
  return symbols, indexes


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 50000])
def test_round_trip_and_size_against_tfc(gaussian_tables, codecs, n):
  symbols, indexes = sample(n, seed=n)
  sizes = {}
  for name, (encode, decode) in codecs.items():
    string = encode(symbols, indexes, gaussian_tables)
    decoded, ok = decode(string, indexes, gaussian_tables)
    assert bool(ok)
    np.testing.assert_array_equal(decoded.numpy(), symbols)
    sizes[name] = len(string.numpy())
  assert sizes["tf"] <= 1.01 * sizes["tfc"] + 6, sizes


def test_no_escapes_and_a_single_table(codecs):
  tables = IndexedTables(quantized_tables(tf.constant([[0.2, 0.5, 0.3]]), [3]), [-1])
  symbols = np.array([-1, 0, 1, 1, 0, 0, -1, 1] * 50, np.int32)
  indexes = np.zeros_like(symbols)
  encode, decode = codecs["tf"]
  decoded, ok = decode(encode(symbols, indexes, tables), indexes, tables)
  assert bool(ok)
  np.testing.assert_array_equal(decoded.numpy(), symbols)


def test_quantized_tables_give_every_symbol_a_count():
  pmf = tf.constant([[1e-12, 0.5, 0.5, 0.0], [0.25, 0.25, 0.25, 0.25]])
  cdf = quantized_tables(pmf, [3, 4]).numpy()
  tables = IndexedTables(cdf, [0, 0])
  for start, size in zip(tables.starts.numpy(), tables.sizes.numpy()):
    edges = cdf[start:start + size]
    assert edges[0] == 0 and edges[-1] == 1 << 16 and np.all(np.diff(edges) >= 1)


def test_damaged_strings_fail_and_forged_lane_counts_are_refused(gaussian_tables, codecs):
  symbols, indexes = sample(20000, seed=3)
  encode, decode = codecs["tf"]
  string = encode(symbols, indexes, gaussian_tables).numpy()
  rng = np.random.RandomState(0)
  for _ in range(6):
    damaged = bytearray(string)
    damaged[rng.randint(len(damaged))] ^= 1 << rng.randint(8)
    decoded, ok = decode(bytes(damaged), indexes, gaussian_tables)
    assert not bool(ok) or not np.array_equal(decoded.numpy(), symbols) or bytes(
        damaged) == string
  assert not bool(decode(string[:-1], indexes, gaussian_tables)[1])
  assert not bool(decode(string + b"\0", indexes, gaussian_tables)[1])
  # One lane for 20000 symbols would be a loop of 20000 rounds: a forged count is refused.
  one_lane = bytes([1]) + string[1:]
  assert not bool(decode(one_lane, indexes, gaussian_tables)[1])
  assert int(rans.min_lanes(20000)) >= 2


def test_varints_round_trip():
  for value in (0, 1, 127, 128, 300, 16383, 16384, 2**28 - 1, 2**34):
    octets = rans.varint(value)
    parsed, end, found = rans.read_varint(tf.cast(octets, tf.int64), tf.constant(0, tf.int64),
                                          max_bytes=5)
    assert bool(found) and int(parsed) == value and int(end) == len(octets.numpy())
