import math

import numpy as np
import pytest
import tensorflow as tf

from tfquant import latent_codecs, models, quantizers
from tests.helpers import TINY

ALL = quantizers.names()


def latent(shape=(4, 16, 16, 8), scale=3.0):
  return tf.random.normal(shape) * scale


def test_registry_lists_every_approximation():
  assert set(ALL) == {"noise", "ste", "universal", "sga", "dsq", "sth", "stochastic",
                      "soft_round", "sigmoid"}


@pytest.mark.parametrize("alias,name", [
    ("AUN-Q", "noise"), ("aun", "noise"), ("STE-Q", "ste"), ("U-Q", "universal"),
    ("uq", "universal"), ("SGA-Q", "sga"), ("DS-Q", "dsq"), ("STH-Q", "sth"),
    ("St-Q", "stochastic"), ("soft-round", "soft_round"), ("Sigmoid", "sigmoid")])
def test_aliases_resolve(alias, name):
  assert quantizers.canonical_name(alias) == name
  assert type(quantizers.get(alias)).canonical == name


def test_every_alias_resolves_to_its_own_class():
  for name in ALL:
    for alias in quantizers._SPELLINGS[name]:
      assert type(quantizers.get(alias)) is type(quantizers.get(name))


def test_unknown_name_lists_valid_ones():
  with pytest.raises(ValueError) as error:
    quantizers.get("rounding-please")
  message = str(error.value)
  assert "rounding-please" in message
  for name in ALL:
    assert name in message
  assert "U-Q" in message


@pytest.mark.parametrize("name", ALL)
def test_inference_is_hard_rounding_around_offset(name):
  y = latent()
  offset = tf.random.uniform(y.shape[-1:], -0.5, 0.5)
  out = quantizers.get(name)(y, offset=offset, training=False, step=10**6)
  np.testing.assert_array_equal(out.numpy(), (tf.round(y - offset) + offset).numpy())


def test_noise_is_within_half_a_bin_per_element():
  y = latent((8, 32, 32, 4))
  err = (quantizers.get("noise")(y, training=True) - y).numpy()
  assert err.min() >= -0.5 and err.max() < 0.5
  assert abs(err.mean()) < 0.01 and abs(err.var() - 1 / 12) < 0.005
  assert len(np.unique(err[0, :, :, 0].round(5))) > 900  # one draw per element


def test_universal_dither_is_shared_within_image_and_differs_across():
  y = latent((16, 32, 32, 4))
  out = quantizers.get("universal")(y, training=True).numpy()
  # out = round(y + u) - u, so out + u is an integer: the fractional part is -u per image.
  frac = out - np.round(out)
  per_image_spread = frac.reshape(16, -1).max(1) - frac.reshape(16, -1).min(1)
  assert per_image_spread.max() < 1e-4
  assert len(np.unique(frac[:, 0, 0, 0].round(4))) == 16
  err = (out - y.numpy()).ravel()
  assert err.min() >= -0.5 - 1e-6 and err.max() <= 0.5 + 1e-6
  counts, _ = np.histogram(err, bins=10, range=(-0.5, 0.5))
  assert counts.min() > 0.8 * err.size / 10  # quantization error is uniform


def test_universal_dither_regenerates_from_seed():
  a = quantizers.Universal.dither(3, [7, 42])
  b = quantizers.Universal.dither(3, [7, 42])
  np.testing.assert_array_equal(a, b)
  assert a.shape == (3, 1, 1, 1)
  y = latent((3, 4, 4, 2))
  out = quantizers.get("universal")(y, training=False, dither=a)
  np.testing.assert_allclose(out, tf.round(y + a) - a, atol=1e-6)


def test_sga_at_small_temperature_rounds():
  y = latent((8, 32, 32, 8))
  out = quantizers.get("sga", temperature=1e-3)(y, training=True)
  agree = np.abs(out.numpy() - np.round(y.numpy())) < 1e-3
  assert agree.mean() >= 0.999


def test_sga_temperature_schedule():
  sga = quantizers.get("sga", decay=3e-4, decay_start=997000)
  assert float(sga.tau(0)) == 0.5
  assert float(sga.tau(997000)) == 0.5
  np.testing.assert_allclose(float(sga.tau(1000000)), 0.5 * math.exp(-0.9), rtol=1e-5)


def test_stochastic_rounding_is_unbiased():
  y = tf.fill([200000], 0.3) + tf.range(200000, dtype=tf.float32) % 5
  out = quantizers.get("stochastic")(y, training=True).numpy()
  assert set(np.unique(out - np.floor(y.numpy()))) <= {0.0, 1.0}
  assert abs((out - y.numpy()).mean()) < 0.005
  assert abs((out - np.floor(y.numpy())).mean() - 0.3) < 0.005


@pytest.mark.parametrize("name", ["ste", "universal", "stochastic"])
def test_straight_through_gradients_are_exactly_one(name):
  y = latent()
  with tf.GradientTape() as tape:
    tape.watch(y)
    out = quantizers.get(name)(y, offset=0.25, training=True)
  np.testing.assert_array_equal(tape.gradient(out, y).numpy(), np.ones(y.shape))


def soft_derivative(y, k):
  d = y - np.floor(y)
  return k * (1 - np.tanh(k * (d - 0.5))**2) / (2 * np.tanh(k / 2))


@pytest.mark.parametrize("k", [1.5, 5.0, 20.0])
def test_dsq_gradient_is_the_soft_curve_derivative(k):
  y = latent()
  dsq = quantizers.get("dsq", sharpness_init=k)
  with tf.GradientTape() as tape:
    tape.watch(y)
    out = dsq(y, training=True)
  np.testing.assert_array_equal(out.numpy(), np.round(y.numpy()))
  np.testing.assert_allclose(tape.gradient(out, y).numpy(), soft_derivative(y.numpy(), k),
                             rtol=1e-4, atol=1e-5)


def test_dsq_learnable_k_moves_and_stays_clipped():
  dsq = quantizers.get("dsq", learnable=True, sharpness_init=2.0)
  y = latent()
  dsq(y, training=True)
  assert [v.name.split("/")[-1] for v in dsq.trainable_variables] == ["k:0"]
  optimizer = tf.keras.optimizers.SGD(1.0)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(dsq(y, training=True) * y)
  grads = tape.gradient(loss, dsq.trainable_variables)
  assert float(tf.abs(grads[0])) > 0
  optimizer.apply_gradients(zip(grads, dsq.trainable_variables))
  assert float(dsq.k) != 2.0
  dsq.k.assign(-5.0)
  optimizer.apply_gradients(zip([tf.constant(0.0)], dsq.trainable_variables))
  np.testing.assert_allclose(float(dsq.k), math.log(3.0), rtol=1e-6)


def test_dsq_linear_sharpness_schedule():
  dsq = quantizers.get("dsq", sharpness_init=2.0, sharpness_end=12.0, schedule_start=100,
                       schedule_end=200)
  assert [float(dsq.sharpness(s)) for s in (0, 100, 150, 200, 10**6)] == [2, 2, 7, 12, 12]


@pytest.mark.parametrize("name", ["sga", "soft_round", "sigmoid", "noise", "sth"])
def test_soft_gradients_are_finite_and_nonzero(name):
  y = latent()
  with tf.GradientTape() as tape:
    tape.watch(y)
    out = quantizers.get(name)(y, training=True, step=500)
  grad = tape.gradient(out, y).numpy()
  assert np.all(np.isfinite(grad)) and np.abs(grad).mean() > 0.1


@pytest.mark.parametrize("name", quantizers.names())
def test_defaults_stay_finite_over_a_paper_length_run(name):
  """Built with its defaults (as `models.create` and the demo do), at steps 0, 10⁴, 10⁶."""
  y = latent()
  quantizer = quantizers.get(name)
  for step in (0, 10_000, 1_000_000):
    with tf.GradientTape() as tape:
      tape.watch(y)
      out = quantizer(y, training=True, step=step)
    grad = tape.gradient(out, y)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad)), step


def test_soft_round_at_zero_sharpness_is_the_identity():
  y = latent()
  with tf.GradientTape() as tape:
    tape.watch(y)
    out = quantizers.soft_round(y, tf.constant(0.0))
  np.testing.assert_allclose(out, y, atol=1e-4)
  np.testing.assert_allclose(tape.gradient(out, y), tf.ones_like(y), atol=1e-3)


def test_soft_round_tends_to_identity_and_to_rounding():
  y = latent()
  smooth = quantizers.get("soft_round", sharpness_init=1e-3, sharpness_end=1e-3)
  sharp = quantizers.get("soft_round", sharpness_init=200.0, sharpness_end=200.0)
  np.testing.assert_allclose(smooth(y, training=True), y, atol=1e-3)
  close = np.abs(sharp(y, training=True).numpy() - np.round(y.numpy())) < 1e-3
  assert close.mean() > 0.95  # all but |d - 1/2| < 0.017


def test_a_scheduled_quantizer_refuses_a_training_call_without_step():
  """Without `step`, SGA-Q would never anneal and STH-Q never leave its noise stage."""
  y = latent()
  scheduled = [("sga", {}), ("sth", {}), ("soft_round", {}),
               ("sigmoid", quantizers.Sigmoid.STUDY_SCHEDULE),
               ("dsq", dict(sharpness_end=5.0))]
  for name, params in scheduled:
    quantizer = quantizers.get(name, **params)
    with pytest.raises(ValueError, match=r"training=True, step=optimizer.iterations"):
      quantizer(y, training=True)
    assert quantizer(y, training=True, step=10).shape == y.shape
    np.testing.assert_array_equal(quantizer(y, training=False), np.round(y))
  for name, params in [("sga", dict(temperature=0.5)), ("dsq", {}), ("dsq", dict(learnable=True)),
                       ("sigmoid", {}), ("noise", {}), ("ste", {})]:
    assert quantizers.get(name, **params)(y, training=True).shape == y.shape
  model = models.create("balle2018", ent_quant="sga", dec_quant="sga", **TINY)
  with pytest.raises(ValueError, match="The 'sga' quantizer follows a schedule"):
    model(tf.random.uniform([1, 64, 64, 3]), training=True)


def test_sth_switches_from_noise_to_rounding():
  sth = quantizers.get("sth", switch_step=1000)
  y = latent()
  before = sth(y, training=True, step=999).numpy()
  after = sth(y, training=True, step=1000).numpy()
  assert not np.allclose(before, np.round(y.numpy()))
  np.testing.assert_array_equal(after, np.round(y.numpy()))
  assert not bool(sth.is_hard(999)) and bool(sth.is_hard(1000))


def test_sigmoid_study_staircase_temperature():
  sigmoid = quantizers.get("sigmoid", **quantizers.Sigmoid.STUDY_SCHEDULE)
  steps = [0, 9999, 10000, 25000, 10**6, 10**8]
  assert [float(sigmoid.sharpness(s)) for s in steps] == [1, 1, 2, 3, 101, 2000]
  assert quantizers.get(quantizers.spec(sigmoid)).stair_steps == 10000
  assert float(quantizers.get("sigmoid").sharpness(10**6)) == 10.0  # the default: constant


@pytest.mark.parametrize("kind", ["factorized", "gaussian"])
def test_sth_second_stage_trains_on_exactly_the_coded_values(kind):
  """Training rounds around integers; coding around the medians (factorized) or means."""
  sth = {"name": "sth", "switch_step": 10}
  y = latent((1, 8, 8, 4))
  if kind == "factorized":
    codec = latent_codecs.FactorizedCodec(sth, center="median", train_center="integer")
    codec.build(y.shape)
    for variable in codec.prior.trainable_variables:  # fractional medians
      variable.assign_add(tf.random.normal(variable.shape, stddev=0.5))
    trained, _ = codec(y, training=True, step=10)
    codec.finalize()
    offset = codec.offset(False).numpy()
    assert np.abs(offset).max() > 0.05
    coded, _, _ = codec.decompress(codec.compress(y)[0], tf.shape(y)[1:3])
  else:
    codec = latent_codecs.GaussianConditionalCodec(sth, mean=True, train_center="integer")
    params = tf.concat([tf.random.uniform(y.shape, -3.0, 3.0), tf.fill(y.shape, 2.0)], -1)
    trained, _ = codec(y, params, training=True, step=10)
    codec.finalize()
    coded, _, _ = codec.decompress(codec.compress(y, params)[0], tf.shape(y)[1:3], params)
  np.testing.assert_allclose(trained.numpy(), coded.numpy(), atol=1e-5)
  assert not np.allclose(trained.numpy(), np.round(y.numpy()))


@pytest.mark.parametrize("name", ALL)
def test_serialization_round_trip(name):
  params = {"dsq": dict(learnable=True, sharpness_init=3.0), "sga": dict(decay=1e-3),
            "sth": dict(switch_step=77)}.get(name, {})
  layer = quantizers.get(name, **params)
  spec = quantizers.spec(layer)
  assert spec["name"] == name
  clone = quantizers.get(spec)
  assert quantizers.spec(clone) == spec
  keras_clone = tf.keras.layers.deserialize(tf.keras.layers.serialize(layer))
  assert type(keras_clone) is type(layer)
  assert keras_clone.get_config() == layer.get_config()
  y = latent()
  np.testing.assert_array_equal(clone(y, offset=0.1, training=False),
                                layer(y, offset=0.1, training=False))


@pytest.mark.parametrize("name", ALL)
def test_mixed_precision(name):
  tf.keras.mixed_precision.set_global_policy("mixed_float16")
  layer = quantizers.get(name)
  y = tf.cast(latent(), tf.float16)
  with tf.GradientTape() as tape:
    tape.watch(y)
    out = layer(y, training=True, step=10)
  assert out.dtype == tf.float16
  assert np.all(np.isfinite(tape.gradient(out, y).numpy()))
  hard = layer(y, training=False)
  np.testing.assert_array_equal(hard.numpy(), np.round(y.numpy()))
