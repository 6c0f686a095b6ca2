import os
import struct
import warnings
import zlib

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from tfquant import data, quantizers, train

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class TfquantSampleImages(tfds.core.GeneratorBasedBuilder):
  """The embedded sample images as a tensorflow-datasets dataset (built locally)."""

  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(
        builder=self, features=tfds.features.FeaturesDict(
            {"image": tfds.features.Image(shape=(None, None, 3))}))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {"train": self._generate_examples()}

  def _generate_examples(self):
    for index, path in enumerate(data.image_paths(data.sample_dir())):
      yield index, {"image": path}


def test_tfds_dataset_by_name(tmp_path):
  TfquantSampleImages(data_dir=str(tmp_path)).download_and_prepare()
  dataset = data.tfds_patch_dataset("tfquant_sample_images", "train", 64, 3,
                                    data_dir=str(tmp_path), seed=1)
  batches = list(dataset.take(4))
  assert all(b.shape == (3, 64, 64, 3) and b.dtype == tf.float32 for b in batches)
  assert 0.0 <= float(tf.reduce_min(batches[0])) and float(tf.reduce_max(batches[0])) <= 1.0


def test_tfds_errors_are_clear(tmp_path):
  with pytest.raises(ValueError, match="Unknown tensorflow-datasets dataset"):
    data.tfds_patch_dataset("no_such_dataset_xyz", "train", 64, 2, data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="not prepared"):
    data.tfds_patch_dataset("tfquant_sample_images", "train", 64, 2,
                            data_dir=str(tmp_path / "empty"))


def test_patch_dataset_skips_small_images_and_is_deterministic(tmp_path):
  big = data.read_image(data.image_paths(data.sample_dir())[0])
  Image.fromarray(big).save(tmp_path / "big.png")
  Image.fromarray(big[:40, :40]).save(tmp_path / "small.png")
  paths = data.image_paths(str(tmp_path))
  first = next(iter(data.patch_dataset(paths, 64, 2, seed=5))).numpy()
  again = next(iter(data.patch_dataset(paths, 64, 2, seed=5))).numpy()
  np.testing.assert_array_equal(first, again)
  assert first.shape == (2, 64, 64, 3)
  uncached = data.patch_dataset(paths, 64, 2, seed=5, memory_cache_bytes=0)
  cached = data.patch_dataset(paths, 64, 2, seed=5)
  for a, b in zip(uncached.take(4), cached.take(4)):  # the cache changes no crop
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  with pytest.raises(ValueError, match="at least 500x500"):
    data.patch_dataset(paths, 500, 2)


def test_random_downscale_shows_wider_views_at_the_patch_size(tmp_path):
  # A ramp rising one level per column: a crop spans `patch - 1` levels at scale 1 and up to
  # `patch / f - 1` when shrunk by f, so the spans give the factors away.
  ramp = np.broadcast_to(np.arange(256, dtype=np.uint8)[None, :, None], (200, 256, 3))
  Image.fromarray(np.ascontiguousarray(ramp)).save(tmp_path / "ramp.png")
  paths = data.image_paths(str(tmp_path))

  def spans(random_downscale):
    batch = next(iter(data.patch_dataset(paths, 64, 32, seed=1,
                                         random_downscale=random_downscale))).numpy()
    assert batch.shape == (32, 64, 64, 3) and 0 <= batch.min() and batch.max() <= 1
    return 255 * np.ptp(batch[:, 32, :, 0], axis=1)

  np.testing.assert_allclose(spans(None), 63, atol=1e-4)
  np.testing.assert_allclose(spans(1.0), 63, atol=1e-4)
  shrunk = spans(0.5)
  assert shrunk.min() > 60 and shrunk.max() <= 128 and shrunk.max() - shrunk.min() > 30
  for bad in (0.0, 1.5):
    with pytest.raises(ValueError, match=r"--random_downscale must be within \(0, 1\]"):
      train.TrainConfig(train_glob="x", train_dir="y", random_downscale=bad).validate()
  np.testing.assert_array_equal(  # seeded by position: a resumed pipeline sees the same
      next(iter(data.patch_dataset(paths, 64, 32, seed=1, random_downscale=0.5))).numpy(),
      next(iter(data.patch_dataset(paths, 64, 32, seed=1, random_downscale=0.5))).numpy())


def test_image_paths_and_read_errors(tmp_path):
  with pytest.raises(FileNotFoundError, match="No PNG/JPEG"):
    data.image_paths(str(tmp_path))
  (tmp_path / "fake.png").write_bytes(b"not really a png")
  with pytest.raises(ValueError, match="not a readable image"):
    data.read_image(str(tmp_path / "fake.png"))


@pytest.mark.parametrize("config_file", [os.path.join(REPO, "configs", f"{arch}.py")
                                         for arch in ("balle2017", "balle2018", "minnen2018",
                                                      "cheng2020")])
def test_configs_resolve(config_file, tmp_path):
  values = train.load_config_file(config_file)
  config = train.resolve_config(config_file, {"train_glob": "x", "train_dir": str(tmp_path)})
  assert config.steps == 1000000 and config.batch_size == 8 and config.patch_size == 256
  assert config.arch == values["arch"]
  options = config.model_options()
  assert options["ent_quant"]["name"] == "noise"
  sth = config.quantizer_spec("sth")
  assert sth["switch_step"] == 960000
  expected_decay_start = {"cheng2020": 990000}.get(config.arch, 997000)
  assert config.quantizer_spec("sga")["decay_start"] == expected_decay_start
  sigmoid = quantizers.get(config.quantizer_spec("sigmoid"))
  assert [float(sigmoid.sharpness(step)) for step in (0, 9999, 10000, 10**6)] == [1, 1, 2, 101]


def test_mixed_precision_training_steps(tmp_path):
  config = train.resolve_config(overrides=dict(
      arch="balle2018", ent_quant="universal", dec_quant="dsq", num_filters=8,
      latent_filters=12, batch_size=2, patch_size=64, steps=25, train_dir=str(tmp_path),
      train_glob=os.path.join(data.sample_dir(), "*.png"), precision="mixed_float16"))
  trainer = train.Trainer(config)
  history = trainer.fit(progress=False)
  assert trainer.model.analysis.compute_dtype == "float16"
  # The first steps may be skipped while the dynamic loss scale falls from 2^15.
  assert len(history) >= 5 and all(np.isfinite(h["loss"]) for h in history)
  assert all(np.all(np.isfinite(v.numpy())) for v in trainer.model.variables)


def _png_16bit_rgb(path, array):
  """A 16-bit RGB PNG (Pillow writes none): IHDR bit depth 16, colour type 2."""
  def chunk(kind, payload):
    return (struct.pack(">I", len(payload)) + kind + payload +
            struct.pack(">I", zlib.crc32(kind + payload)))
  height, width, _ = array.shape
  rows = b"".join(b"\0" + row.astype(">u2").tobytes() for row in array)
  with open(path, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2,
                                                              0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16_bit_images_scale_by_their_depth(tmp_path):
  dark = np.full((8, 12), 200, np.uint16)  # ≤ 255, but 16-bit: nearly black
  full = np.full((8, 12), 65535, np.uint16)
  for name, values, expected in (("dark", dark, 1), ("full", full, 255)):
    Image.fromarray(values).save(tmp_path / f"{name}.png")
    with pytest.warns(UserWarning, match="16-bit grayscale"):
      image = data.read_image(str(tmp_path / f"{name}.png"))
    assert image.shape == (8, 12, 3) and np.all(image == expected)
  _png_16bit_rgb(tmp_path / "rgb.png", np.full((4, 5, 3), 65535, np.uint16))
  with pytest.warns(UserWarning, match="16-bit RGB reduced"):
    assert np.all(data.read_image(str(tmp_path / "rgb.png")) == 255)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path, orientation):
  pixels = np.random.RandomState(orientation).randint(0, 255, (6, 10, 3)).astype(np.uint8)
  exif = Image.Exif()
  exif[data.ORIENTATION_TAG] = orientation
  Image.fromarray(pixels).save(tmp_path / "photo.png", exif=exif)
  transposes = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
                4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
                6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
                8: Image.Transpose.ROTATE_90}
  expected = pixels if orientation == 1 else np.asarray(
      Image.fromarray(pixels).transpose(transposes[orientation]))
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    image = data.read_image(str(tmp_path / "photo.png"))
  np.testing.assert_array_equal(image, expected)
  assert any("EXIF orientation" in str(w.message) for w in caught) == (orientation != 1)


def test_palette_transparency_dropped_with_a_warning(tmp_path):
  image = Image.fromarray(np.arange(24, dtype=np.uint8).reshape(4, 6) % 4, mode="P")
  image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
  image.save(tmp_path / "palette.png", transparency=2)
  with pytest.warns(UserWarning, match="transparency dropped"):
    assert data.read_image(str(tmp_path / "palette.png")).shape == (4, 6, 3)
