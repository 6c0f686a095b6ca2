"""Training in bfloat16 (every quantizer: test_train): the transforms' fast ops agree with
TFC's, the entropy side stays float32 in every architecture, what a bfloat16 run saves codes
as any model does, and coding graphs freeze their kernels at finalize."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfquant import coding, data, models, train
from tfquant.models import layers
from tests.helpers import hard_forward, sample_image, tiny

LAYERS = {  # every shape of layer the architectures build
    "down 5×5/2": lambda: layers.down(6, 5, 2), "down 9×9/4": lambda: layers.down(6, 9, 4),
    "conv 3×3": lambda: layers.conv(6, 3), "down 3×3/2": lambda: layers.down(6, 3, 2),
    "conv 1×1": lambda: layers.conv(6, 1), "up 5×5/2": lambda: layers.up(6, 5, 2),
    "up 9×9/4": lambda: layers.up(6, 9, 4), "up 3×3/2": lambda: layers.up(6, 3, 2),
    "up 3×3 variable": lambda: layers.up(6, 3, 1, kernel_parameter="variable"),
}


@pytest.mark.parametrize("name", LAYERS)
def test_training_ops_agree_with_tfc_ops_and_their_gradients(name):
  layer = LAYERS[name]()
  x = tf.random.normal([2, 13, 10, 5])  # odd sizes: the crops and pads must line up
  layer(x)
  layer.bias_parameter.assign(tf.random.normal(layer.bias_parameter.shape))
  results = []
  for training in (True, False):  # False in float32 is TFC's own call
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=training)
      loss = tf.reduce_sum(y * tf.cos(y))
    results.append([y] + tape.gradient(loss, [x] + layer.trainable_variables))
  assert results[0][0].shape == results[1][0].shape
  for fast, tfc_ops in zip(*results):  # float32 rounding of sums of up to 405 terms
    np.testing.assert_allclose(fast, tfc_ops, rtol=1e-4, atol=2e-5 * np.abs(tfc_ops).max())


def test_rdft_kernel_is_tfcs_linear_map_for_any_coefficients():
  parameter = tfc.RDFTParameter(tf.random.normal([5, 5, 4, 3]))
  parameter.real.assign(tf.random.normal(parameter.real.shape))  # not a real kernel's RDFT
  parameter.imag.assign(tf.random.normal(parameter.imag.shape))
  np.testing.assert_allclose(layers.rdft_kernel(parameter), parameter(), atol=1e-5)


@pytest.mark.parametrize("arch,context", [("balle2017", None), ("balle2018", None),
                                          ("minnen2018", "serial"), ("cheng2020", "checkerboard")])
def test_bfloat16_transforms_around_a_float32_entropy_side(arch, context):
  options = dict(context=context) if context else {}
  model = models.create(arch, "mixed_bfloat16", ent_quant="universal", dec_quant="dsq",
                        **tiny(arch), **options)
  assert tf.keras.mixed_precision.global_policy().name == "float32"  # left as it was
  assert model.analysis.compute_dtype == model.synthesis.compute_dtype == "bfloat16"
  entropy_side = model.entropy._flatten_layers()  # pylint: disable=protected-access
  assert {layer.compute_dtype for layer in entropy_side} == {"float32"}
  assert all(v.dtype == tf.float32 for v in model.variables)
  x = tf.constant(sample_image(64, 64)[None], tf.float32) / 255.0
  with tf.GradientTape() as tape:
    result = model(x, training=True, step=10)
  assert result["loss"].dtype == result["bpp"].dtype == tf.float32
  grads = tape.gradient(result["loss"], model.trainable_variables)
  assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)


def test_a_bfloat16_run_saves_a_model_that_codes_exactly(tmp_path):
  config = train.resolve_config(overrides=dict(
      arch="balle2018", ent_quant="universal", dec_quant="ste", num_filters=8,
      latent_filters=12, batch_size=2, patch_size=64, steps=12, checkpoint_every=6, lr=1e-3,
      train_dir=str(tmp_path), train_glob=os.path.join(data.sample_dir(), "*.png"),
      precision="mixed_bfloat16"))
  trainer = train.train(config, progress=False)
  assert trainer.model.analysis.compute_dtype == "bfloat16"
  loaded = models.load(os.path.join(str(tmp_path), models.RUN_MODEL_DIR))
  assert loaded.analysis.compute_dtype == "float32"  # coding runs in float32
  image = sample_image(64, 96)
  for coder in coding.coders.NAMES:
    np.testing.assert_array_equal(coding.decode(loaded, coding.encode(loaded, image, coder=coder)),
                                  hard_forward(loaded, image))


def test_bfloat16_where_it_is_emulated_says_so_and_auto_takes_float32(tmp_path, caplog,
                                                                       monkeypatch):
  monkeypatch.setattr(train.strategy, "native_bfloat16", lambda: False)
  config = train.resolve_config(overrides=dict(
      arch="balle2017", num_filters=8, batch_size=1, patch_size=32, steps=1,
      train_dir=str(tmp_path), train_glob=os.path.join(data.sample_dir(), "*.png"),
      precision="mixed_bfloat16"))
  train.Trainer(config)
  assert any("no native bfloat16" in r.getMessage() and "slower than float32" in r.getMessage()
             for r in caplog.records)
  auto = dataclasses.replace(config, precision="auto")
  for native, precision, compute_dtype in ((False, "float32", "float32"),
                                           (True, "mixed_bfloat16", "bfloat16")):
    monkeypatch.setattr(train.strategy, "native_bfloat16", lambda native=native: native)
    caplog.clear()
    assert train.Trainer(auto).model.analysis.compute_dtype == compute_dtype
    assert not any("no native bfloat16" in r.getMessage() for r in caplog.records)
    train.write_config(auto)  # the run records what auto chose
    with open(os.path.join(str(tmp_path), train.CONFIG_FILE)) as f:
      assert json.load(f)["resolved_precision"] == precision


def test_coding_graphs_take_their_kernels_from_the_weights_at_finalize():
  tf.random.set_seed(0)  # some untrained draws decode every image to black, before and after
  model = models.create("balle2018", **tiny("balle2018"))
  model.finalize()
  image = sample_image(64, 64)
  before = coding.decode(model, coding.encode(model, image))
  for transform in (model.analysis, model.synthesis):
    kernel = transform.layers[0].kernel_parameter
    kernel.real.assign(kernel.real * 1.5)  # new weights: the coding graphs are stale until...
  model.finalize()  # ...finalize freezes them anew
  after = coding.decode(model, coding.encode(model, image))
  assert not np.array_equal(after, before)
  np.testing.assert_array_equal(after, hard_forward(model, image))
