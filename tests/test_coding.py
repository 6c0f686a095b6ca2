import os
import subprocess
import sys
import time
import warnings
import zlib

import numpy as np
import pytest
from PIL import Image

from tfquant import coding, data, models
from tfquant.coding import BitstreamError, container, files
from tests.helpers import TINY, hard_forward, sample_image, trained

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model():
  return trained("balle2018", "universal", "dsq")


@pytest.fixture(scope="module")
def stream(model):
  image = sample_image(48, 80)
  return image, coding.encode(model, image)


def test_round_trip_and_header(model, stream):
  image, data = stream
  assert data[:4] == container.MAGIC and data[4] == container.VERSION
  parsed = container.unpack(data)
  assert parsed.image_shape == (48, 80)
  assert [list(vars(l).values()) for l in parsed.latents] == model.latent_shapes(
      (48, 80)).numpy().tolist()
  assert parsed.model_id == coding.model_id(model)
  assert parsed.model_id["quant"] == "universal/dsq"
  np.testing.assert_array_equal(coding.decode(model, data), hard_forward(model, image))
  header = len(data) - sum(len(s) for s in parsed.strings)
  assert header < 120


def test_weights_hash_covers_coding_tables():
  model = models.create("balle2017", **TINY)
  before = coding.weights_hash(model)
  model.finalize()
  assert coding.weights_hash(model) != before


def test_every_truncation_is_a_clear_error(model, stream):
  _, data = stream
  for length in range(len(data)):
    with pytest.raises(BitstreamError):
      coding.decode(model, data[:length])


def test_random_mutations_are_caught_quickly(model, stream):
  _, data = stream
  rng = np.random.RandomState(0)
  start = time.perf_counter()
  decoded = 0
  for _ in range(1200):
    mutated = bytearray(data)
    for position in rng.randint(0, len(data), rng.randint(1, 4)):
      mutated[position] = rng.randint(0, 256)
    try:
      coding.decode(model, bytes(mutated))
      decoded += 1  # only possible if the mutation rewrote bytes with their own values
    except BitstreamError:
      pass
    assert time.perf_counter() - start < 120
  assert decoded < 20


def test_foreign_and_future_files(model, stream):
  _, data = stream
  with pytest.raises(BitstreamError, match="magic"):
    coding.decode(model, b"\x89PNG\r\n\x1a\n" + bytes(100))
  with pytest.raises(BitstreamError, match="magic"):
    coding.decode(model, b"")
  future = bytearray(data)
  future[4] = container.VERSION + 1
  with pytest.raises(BitstreamError, match="newer"):
    coding.decode(model, bytes(future))


def test_crafted_lengths_do_not_allocate(model, stream):
  _, data = stream
  parsed = container.unpack(data)
  huge = container.Bitstream(parsed.model_id, (65535, 65535), parsed.latents, parsed.strings)
  with pytest.raises(BitstreamError, match="pixel limit"):
    coding.decode(model, container.pack(huge))
  body = bytearray(data[:-4])
  id_length = int.from_bytes(body[7:9], "big")
  string_length_at = 9 + id_length + 4 + 6
  body[string_length_at:string_length_at + 4] = (2**32 - 1).to_bytes(4, "big")
  forged = bytes(body) + zlib.adler32(bytes(body)).to_bytes(4, "big")
  with pytest.raises(BitstreamError, match="Truncated"):
    container.unpack(forged)


def test_wrong_model_is_refused(stream):
  _, data = stream
  other = models.create("balle2018", ent_quant="universal", dec_quant="dsq", **TINY)
  other.finalize()
  with pytest.raises(BitstreamError, match="another model"):
    coding.decode(other, data)


def test_damaged_strings_with_valid_checksum(model, stream):
  _, data = stream
  parsed = container.unpack(data)
  strings = (bytes(len(parsed.strings[0])), parsed.strings[1])
  forged = container.pack(container.Bitstream(parsed.model_id, parsed.image_shape,
                                              parsed.latents, strings))
  try:
    image = coding.decode(model, forged)
    assert image.shape == (48, 80, 3)  # the range decoder may accept any bytes
  except BitstreamError as error:
    assert "Range decoding failed" in str(error)


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
  assert "quant=universal/dsq" in info.stdout and "53x37" in info.stdout


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
