"""A wider model started from a narrower one codes as it did, and training grows it."""

import numpy as np
import pytest
import tensorflow as tf

from tfquant import coding, data, models, train
from tests.helpers import sample_image, trained

WIDER = dict(num_filters=12, latent_filters=18)  # the tiny models' 8 and 12, widened


def widened(source):
  wide = models.create(source.arch, **dict(source.options, **WIDER))
  models.widen.widen_into(source, wide)
  return wide


@pytest.mark.parametrize("arch,lmbda", [("balle2017", 0.01), ("balle2018", 0.01),
                                        ("balle2018", (0.002, 0.05))])
def test_a_widened_model_codes_as_the_narrow_one_did_to_a_rounding(arch, lmbda):
  source = trained(arch, lmbda=lmbda)
  wide = widened(source)
  wide.finalize()
  image = sample_image(64, 96)
  rate = {} if isinstance(lmbda, float) else {"lmbda": 0.01}
  x = tf.constant(image[None], tf.float32) / 255.0
  at = {} if not rate else {"lmbda": tf.constant([0.01])}
  mine, theirs = wide(x, training=False, **at), source(x, training=False, **at)
  np.testing.assert_allclose(mine["x_hat"], theirs["x_hat"], atol=1e-5)  # sums of more terms
  assert float(mine["bpp"]) == pytest.approx(float(theirs["bpp"]), rel=1e-5)
  narrow_file, wide_file = (coding.encode(m, image, **rate) for m in (source, wide))
  # The wider transforms sum zero terms in another order, so a rounding can flip: a few scale
  # indices (193 bytes against 191 for a tiny variable-rate model) or a pixel by 1 (1 of 18,432).
  assert abs(len(wide_file) - len(narrow_file)) <= max(2, 0.02 * len(narrow_file)), (
      len(narrow_file), len(wide_file))
  off = np.abs(coding.decode(wide, wide_file).astype(int) - coding.decode(source, narrow_file))
  assert off.max() <= 1 and np.count_nonzero(off) <= 0.001 * off.size, np.count_nonzero(off)


def test_training_grows_the_new_channels_of_a_model_started_from_a_saved_narrow_one(tmp_path):
  source = trained("balle2018")
  models.save(source, str(tmp_path / "narrow"))
  wide = models.create("balle2018", **dict(source.options, **WIDER))
  models.read_weights(wide, str(tmp_path / "narrow"))  # what --init_from does
  y_kernel = wide.analysis.layers[-1].kernel
  assert not np.any(y_kernel[..., 12:].numpy())  # y's new channels start at 0
  dataset = data.patch_dataset(data.image_paths(data.sample_dir()), 64, 2, seed=0)
  train.fit(wide, dataset, 3, learning_rate=1e-3)
  assert np.all(np.abs(wide.analysis.layers[-1].kernel[..., 12:].numpy()).max(axis=(0, 1, 2)))
  assert np.any(wide.entropy.hyper_analysis.layers[-1].kernel[..., 8:].numpy())
  narrower = models.create("balle2018", **dict(source.options, num_filters=4))
  with pytest.raises(ValueError, match="not a widening"):
    models.read_weights(narrower, str(tmp_path / "narrow"))
  mean_scale = [models.create("minnen2018", **filters, lmbda=0.01)
                for filters in (dict(num_filters=8, latent_filters=12), WIDER)]
  with pytest.raises(ValueError, match="widening is for balle2017, balle2018"):
    models.widen.widen_into(*mean_scale)
