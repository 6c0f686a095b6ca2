import collections
import os
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

import tensorflow as tf

from tfquant import coding, data, files, models
from tfquant.coding import BitstreamError, coders, container, crc
from tests import fuzzing
from tests.helpers import TINY, hard_forward, sample_image, trained

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODER_SEEDS = {"tfc": 0, "tf": 1}


@pytest.fixture(scope="module")
def model():
  return trained("balle2018", "universal", "dsq")


@pytest.fixture(scope="module")
def stream(model):
  image = sample_image(48, 80)
  return image, coding.encode(model, image)


@pytest.mark.parametrize("coder", coders.NAMES)
def test_round_trip_and_compact_header(model, coder):
  image = sample_image(48, 80)
  data = coding.encode(model, image, coder=coder)
  assert data[:4] == container.MAGIC and data[4] == container.VERSION == 3
  parsed = container.unpack(data)
  assert parsed.image_shape == (48, 80) and parsed.coder == coder
  assert parsed.fingerprint == coding.fingerprint(model.identifier())
  assert len(parsed.strings) == 2
  np.testing.assert_array_equal(coding.decode(model, data), hard_forward(model, image))
  assert container.overhead(data) <= 33  # 2 latents, no dither


def test_symbol_checksum_is_zlib_crc32_of_the_symbols(model):
  rng = np.random.RandomState(0)
  for size in (1, 2, 3, 5, 64, 1000, 4097):
    values = rng.randint(-2**31, 2**31, size).astype(np.int32)
    assert int(crc.crc32_int32(values)) == zlib.crc32(values.astype("<i4").tobytes())
    octets = rng.randint(0, 256, size + 3).astype(np.uint8)
    assert int(crc.crc32_bytes(octets)) == zlib.crc32(octets.tobytes())
  image = sample_image(48, 80)
  x = tf.constant(image[None], tf.float32) / 255.0
  y = model.analysis(models.base.pad_to_multiple(x, model.stride))
  _, symbols = model.entropy.compress(y, coder="tfc")
  flat = np.concatenate([[48, 80]] + [s.numpy().ravel() for s in symbols]).astype("<i4")
  side_info = np.concatenate([[48, 80], symbols[1].numpy().ravel()]).astype("<i4")
  parsed = container.unpack(coding.encode(model, image))
  assert parsed.symbol_checksum == zlib.crc32(flat.tobytes())
  assert parsed.side_info_checksum == zlib.crc32(side_info.tobytes()) & 0xFFFF


def test_weights_hash_covers_coding_tables():
  model = models.create("balle2017", **TINY)
  before = model.weights_hash()
  model.finalize()
  assert model.weights_hash() != before


def test_every_truncation_is_a_clear_error(model, stream):
  _, data = stream
  for length in range(len(data)):
    with pytest.raises(BitstreamError):
      coding.decode(model, data[:length])


@pytest.mark.parametrize("coder", coders.NAMES)
def test_fuzzing_never_decodes_garbage(model, coder):
  """Damage and forgeries with every container checksum recomputed: each case is refused or
  decodes to exactly the original image (`make stress` runs 10,000)."""
  data = coding.encode(model, sample_image(48, 80), coder=coder)
  start = time.perf_counter()
  counts = fuzzing.run(model, data, cases=180, seed=CODER_SEEDS[coder])
  outcomes = collections.Counter()
  for kind_counts in counts.values():
    outcomes.update(kind_counts)
  assert set(outcomes) <= {"refused", "exact"}, dict(counts)
  for kind in ("forged_strings", "forged_string_bytes", "forged_checksum_only"):
    assert counts[kind]["refused"] >= 0.9 * sum(counts[kind].values()), dict(counts)
  assert time.perf_counter() - start < 240


def test_foreign_future_and_v1_files(model, stream):
  _, data = stream
  with pytest.raises(BitstreamError, match="magic"):
    coding.decode(model, b"\x89PNG\r\n\x1a\n" + bytes(100))
  with pytest.raises(BitstreamError, match="magic"):
    coding.decode(model, b"")
  future = bytearray(data)
  future[4] = container.RATE_VERSION + 1
  with pytest.raises(BitstreamError, match="newer"):
    coding.decode(model, bytes(future))
  v1 = container.MAGIC + bytes([1, 2, 0, 0, 10]) + b"arch=x;q=y" + bytes(40)
  with pytest.raises(BitstreamError, match="version 1"):
    coding.decode(model, v1)


def test_forged_huge_header_is_refused_fast(model, stream):
  _, data = stream
  parsed = container.unpack(data)
  forged = container.pack(fuzzing._replace(parsed, image_shape=(8193, 8192)))
  start = time.perf_counter()
  with pytest.raises(BitstreamError, match="pixel limit"):
    coding.decode(model, forged)
  assert time.perf_counter() - start < 2
  assert coding.DEFAULT_MAX_PIXELS == 8192 * 8192
  body = bytearray(data[:-4])
  body[14] = 0xFF  # the height's varint now runs into the following bytes
  body[15] = 0xFF
  with pytest.raises(BitstreamError, match="Invalid image shape|varint|Truncated"):
    container.unpack(fuzzing.recheck(bytes(body)))


@pytest.mark.parametrize("coder", coders.NAMES)
def test_refused_strings_never_reach_the_costly_decoding(model, coder):
  """The synthesis transform dominates decoding's time and memory, y's decoder comes next:
  each runs only for strings that pass the checks before it. A forged larger shape fails the
  side-information check after z (with TFC's coder, which reads past a string's end without
  notice, only that check catches it), so neither y nor the synthesis runs."""
  image = sample_image(48, 80)
  image_shape, checksums, *strings = model.compress(image, coder=coder)
  expected = hard_forward(model, image)
  runs = collections.Counter()
  # Counted through instance attributes that shadow the methods: the layers themselves stay
  # where they are, so the model's variables (and so its fingerprint) keep their order.
  counted_methods = [(model.synthesis, "call", "synthesis"),
                     (model.entropy.y_codec, "decompress", "y")]
  for owner, method, name in counted_methods:
    def run(*args, function=getattr(owner, method), name=name, **kwargs):
      runs[name] += 1
      return function(*args, **kwargs)
    setattr(owner, method, run)
  try:
    def decode(shape, sums):
      return model.decompress_tensors(0.0, shape, tf.constant(sums, tf.int64), *strings,
                                      coder=coder, integer=model.integer_coding())

    decoded, actual, ok = decode(image_shape, checksums)
    assert bool(ok) and np.array_equal(actual, checksums) and dict(runs) == {"synthesis": 1,
                                                                            "y": 1}
    np.testing.assert_array_equal(decoded, expected)
    symbol_checksum, side_info = (int(v) for v in checksums.numpy())
    decoded, _, ok = decode(image_shape, [(symbol_checksum + 1) % 2**32, side_info])
    assert bool(ok) and decoded.shape == (0, 0, 3) and dict(runs) == {"synthesis": 1, "y": 2}
    decoded, _, ok = decode(image_shape * 8, [symbol_checksum, side_info])
    assert not bool(ok) and decoded.shape == (0, 0, 3) and dict(runs) == {"synthesis": 1,
                                                                          "y": 2}
  finally:
    for owner, method, _ in counted_methods:
      delattr(owner, method)
  with pytest.raises(BitstreamError, match="side information fails its check"):
    model.decompress(image_shape * 8, checksums, *strings, coder=coder)


@pytest.mark.parametrize("coder", coders.NAMES)
def test_a_string_too_short_for_its_shape_is_not_decoded(model, coder):
  """TFC's range decoder reads zeros past a string's end, and an overflow symbol read there
  never ends its Elias-gamma prefix: a forged larger shape could hang it. Strings that
  cannot hold the symbols their shape needs are refused before decoding; valid ones never
  are, escapes included."""
  codec = model.entropy.z_codec
  for stddev in (0.5, 3.0, 300.0):  # near-certain symbols … mostly overflows
    z = tf.random.normal([1, 6, 10, codec.channels], stddev=stddev, seed=1)
    [string], [symbols] = codec.compress(z, coder=coder)
    tables = codec.tables()
    channels = tf.broadcast_to(tf.range(codec.channels), symbols.shape)
    assert not bool(tables.cannot_hold(string[0], channels))
    _, [decoded], ok = codec.decompress([string], tf.constant([6, 10]), coder=coder)
    assert bool(ok)
    np.testing.assert_array_equal(decoded, symbols)
  start = time.perf_counter()
  _, [decoded], ok = codec.decompress([string], tf.constant([600, 1000]), coder=coder)
  assert not bool(ok) and time.perf_counter() - start < 10


@pytest.mark.parametrize("coder", coders.NAMES)
def test_a_forged_shape_without_side_information_is_refused_before_any_crc_or_synthesis(coder):
  """Ballé17 has no side information to check first: its one string, too short for the
  forged shape, is refused before decoding, and neither the symbols' CRC over every claimed
  position nor the synthesis runs (−1 and an empty image)."""
  model = trained("balle2017")
  image = sample_image(48, 80)
  image_shape, checksums, string = model.compress(image, coder=coder)
  decoded, actual, ok = model.decompress_tensors(0.0, image_shape, checksums, string,
                                                 coder=coder, integer=model.integer_coding())
  assert bool(ok) and np.array_equal(actual, checksums) and decoded.shape == image.shape
  decoded, actual, ok = model.decompress_tensors(0.0, image_shape * 64, checksums, string,
                                                 coder=coder, integer=model.integer_coding())
  assert not bool(ok) and list(actual.numpy()) == [-1, -1] and decoded.shape == (0, 0, 3)
  with pytest.raises(BitstreamError, match="strings are damaged"):
    model.decompress(image_shape * 64, checksums, string, coder=coder)


def test_wrong_model_is_refused(stream):
  _, data = stream
  other = models.create("balle2018", ent_quant="universal", dec_quant="dsq", **TINY)
  other.finalize()
  with pytest.raises(BitstreamError, match="another model"):
    coding.decode(other, data)


# The tests' own process computes in one thread (conftest).
DECODE_IN_FOUR_THREADS = """
import sys
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(4)
tf.config.threading.set_inter_op_parallelism_threads(4)
from tfquant import coding, models
model = models.load(sys.argv[1])
for path in sys.argv[2:]:
  np.save(path + ".npy", coding.decode(model, open(path, "rb").read()))
"""


def test_decoding_is_bit_exact_across_processes_and_thread_counts(saved_model, tmp_path):
  model = models.load(saved_model)
  image = sample_image(64, 96, index=2)
  paths = []
  for coder in coders.NAMES:
    path = tmp_path / f"{coder}.tfq"
    path.write_bytes(coding.encode(model, image, coder=coder))
    paths.append(str(path))
  result = subprocess.run([sys.executable, "-c", DECODE_IN_FOUR_THREADS, saved_model, *paths],
                          capture_output=True, text=True, timeout=300, cwd=REPO)
  assert result.returncode == 0, result.stderr
  for path in paths:
    np.testing.assert_array_equal(np.load(path + ".npy"),
                                  coding.decode(model, open(path, "rb").read()))


def run_codec(*args):
  return subprocess.run([sys.executable, os.path.join(REPO, "bin", "codec"), *args],
                        capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def saved_model(model, tmp_path_factory):
  directory = str(tmp_path_factory.mktemp("model"))
  models.save(model, directory)
  return directory


def odd_image(kind):
  rgb = sample_image(37, 53)
  return {
      "rgb_1x1": Image.fromarray(rgb[:1, :1]),
      "rgb_1xN": Image.fromarray(rgb[:1, :]),
      "gray": Image.fromarray(rgb[..., 0]),
      "palette": Image.fromarray(rgb).convert("P"),
      "rgba": Image.fromarray(np.dstack([rgb, np.full(rgb.shape[:2], 128, np.uint8)])),
      "gray16": Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
  }[kind]


@pytest.mark.filterwarnings("ignore:.*converted:UserWarning")
@pytest.mark.parametrize("kind", ["rgb_1x1", "rgb_1xN", "gray", "palette", "rgba", "gray16"])
def test_file_round_trip_on_odd_images(kind, model, tmp_path):
  source, coded, decoded = (str(tmp_path / n) for n in ("in.png", "out.tfq", "out.png"))
  odd_image(kind).save(source)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    files.compress_file(model, source, coded)
  assert any("converted" in str(w.message) for w in caught) == (kind not in ("rgb_1x1",
                                                                             "rgb_1xN"))
  files.decompress_file(model, coded, decoded)
  expected = hard_forward(model, data.read_image(source))
  np.testing.assert_array_equal(np.asarray(Image.open(decoded)), expected)


def test_cli_round_trip(saved_model, model, tmp_path):
  source, coded, decoded = (str(tmp_path / n) for n in ("in.png", "out.tfq", "out.png"))
  odd_image("rgba").save(source)
  result = run_codec("compress", f"--model={saved_model}", source, coded)
  assert result.returncode == 0, result.stderr
  assert "converted" in result.stderr and "bpp" in result.stdout
  result = run_codec("decompress", f"--model={saved_model}", coded, decoded)
  assert result.returncode == 0, result.stderr
  expected = hard_forward(model, data.read_image(source))
  np.testing.assert_array_equal(np.asarray(Image.open(decoded)), expected)
  info = run_codec("info", coded)
  assert "53x37" in info.stdout and "coder: tfc" in info.stdout
  assert "quant=universal/dsq" not in info.stdout  # the file holds a fingerprint only
  info = run_codec("info", f"--model={saved_model}", coded)
  assert "quant=universal/dsq" in info.stdout and "(wrote this file)" in info.stdout


def test_cli_errors_are_clear_and_lose_nothing(saved_model, tmp_path):
  text = tmp_path / "notes.txt"
  text.write_text("not an image")
  target = tmp_path / "keep.tfq"
  target.write_bytes(b"precious")
  result = run_codec("compress", f"--model={saved_model}", str(text), str(target))
  assert result.returncode != 0 and "not a readable image" in result.stderr
  assert "Traceback" not in result.stderr
  assert target.read_bytes() == b"precious"
  result = run_codec("decompress", f"--model={saved_model}", str(text), str(tmp_path / "x.png"))
  assert result.returncode != 0 and "magic" in result.stderr
  assert not (tmp_path / "x.png").exists()
  assert run_codec("frobnicate").returncode != 0
  result = run_codec("compress", f"--model={tmp_path / 'nope'}", str(text), str(target))
  assert result.returncode != 0 and "model.json" in result.stderr


def test_dither_seed_travels_in_the_container(tmp_path):
  model = models.create("balle2017", ent_quant="universal", **TINY)
  model.finalize()
  image = sample_image(40, 56)
  data = coding.encode(model, image, dither_seed=(7, 2**32 - 1))
  parsed = container.unpack(data)
  assert parsed.dither_seed == (7, 2**32 - 1)
  np.testing.assert_array_equal(coding.decode(model, data),
                                model.decompress(*model.compress(image, (7, 2**32 - 1)),
                                                 dither_seed=(7, 2**32 - 1)).numpy())
  (tmp_path / "d.tfq").write_bytes(data)
  assert "dither seed: (7, 4294967295)" in files.describe(str(tmp_path / "d.tfq"))
  plain = container.unpack(coding.encode(model, image))
  assert plain.dither_seed is None


def test_cli_coder_flag_and_tensorflow_errors_are_one_line(saved_model, tmp_path):
  source, coded, decoded = (str(tmp_path / n) for n in ("in.png", "out.tfq", "out.png"))
  odd_image("palette").save(source)
  result = run_codec("compress", f"--model={saved_model}", "--coder=tf", source, coded)
  assert result.returncode == 0, result.stderr
  assert "coder: tf" in run_codec("info", coded).stdout
  result = run_codec("decompress", f"--model={saved_model}", "--max_pixels=100", coded,
                     decoded)
  assert result.returncode != 0 and "pixel limit" in result.stderr
  assert "Traceback" not in result.stderr and not os.path.exists(decoded)
  assert run_codec("decompress", f"--model={saved_model}", coded, decoded).returncode == 0


def test_written_files_follow_the_umask(tmp_path):
  previous = os.umask(0o027)
  try:
    files.write_atomically(str(tmp_path / "out.tfq"), b"bytes")
  finally:
    os.umask(previous)
  assert (tmp_path / "out.tfq").stat().st_mode & 0o777 == 0o640
  assert (tmp_path / "out.tfq").read_bytes() == b"bytes"
