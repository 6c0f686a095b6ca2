"""Tiny models and images shared by the tests."""

import functools

import numpy as np
import tensorflow as tf

from tfquant import data, models, train

TINY = dict(num_filters=8, latent_filters=12)


def tiny(arch):
  """TINY, minus what `arch` doesn't take (cheng2020's latent has num_filters channels)."""
  return dict(num_filters=8) if arch == "cheng2020" else TINY


def sample_image(height=None, width=None, index=0):
  image = data.read_image(data.image_paths(data.sample_dir())[index])
  return image[:height, :width]


def random_image(height, width, seed=0):
  return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def trained(arch, ent_quant="noise", dec_quant=None, steps=80, lmbda=0.01, **options):
  """A tiny model trained briefly on sample patches, finalized for coding (cached); `lmbda`
  a pair for a variable-rate one."""
  tf.random.set_seed(0)
  model = models.create(arch, ent_quant=ent_quant, dec_quant=dec_quant, lmbda=lmbda,
                        **tiny(arch), **options)
  fit_briefly(model, steps)
  model.finalize()
  return model


def fit_briefly(model, steps):
  """Trains a fixture `steps` batches of sample patches, with Keras's legacy Adam: its update
  is one fused op per variable where the new Adam's is ~37, so a tiny Cheng20's step is 9.9k
  ops instead of 23k and traces and starts in 10 s instead of 22 s. The fixtures only need
  weights that code; tests/test_train.py trains as `bin/train` does."""
  dataset = data.patch_dataset(data.image_paths(data.sample_dir()), 64, 4, seed=0)
  train.fit(model, dataset, steps, optimizer=tf.keras.optimizers.legacy.Adam(2e-3))


def hard_forward(model, image, lmbda=None):
  """The uint8 reconstruction of the hard-quantized forward pass (a variable-rate model's at
  the λ a file records for `lmbda`)."""
  x = tf.constant(image[None], tf.float32) / 255.0
  if lmbda is not None:
    lmbda = model.quantization_step.lmbda(model.rate_code(lmbda))
  x_hat = model(x, training=False, lmbda=lmbda)["x_hat"][0]
  return tf.saturate_cast(tf.round(x_hat * 255.0), tf.uint8).numpy()


def zoo_lmbda(model):
  """The λ the zoo's golden files of `model` were coded at: None for a fixed-rate model, the
  geometric middle of a variable-rate model's range."""
  return model.quantization_step.middle if model.variable_rate else None


def coded_bytes(pieces):
  """Bytes of the strings of `model.compress`'s (image shape, checksum, *strings)."""
  return sum(len(p.numpy()[0]) for p in pieces[2:])
