"""One model, every rate: the quantization step Δ(λ), its training, its files."""

import dataclasses
import math
import os
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tensorflow as tf

from tfquant import coding, data, evaluate, export, files, models, rd_curves, train
from tfquant.coding import BitstreamError, coders, container
from tfquant.models import variable_rate
from tfquant.train import step as train_step
from tests import fuzzing
from tests.helpers import fit_briefly, hard_forward, sample_image, tiny

SAMPLES = os.path.join(data.sample_dir(), "*.png")
RANGE = (0.002, 0.05)
CASES = [("balle2017", {}), ("balle2018", {"rate_gains": True}),
         ("minnen2018", {"context": "checkerboard"}),
         ("cheng2020", {"context": "serial"})]


@pytest.fixture(scope="module", params=CASES, ids=[arch for arch, _ in CASES])
def model(request):
  arch, options = request.param
  tf.random.set_seed(0)
  model = models.create(arch, ent_quant="noise", dec_quant="ste", lmbda=list(RANGE),
                        **tiny(arch), **options)
  fit_briefly(model, 40)
  model.finalize()
  return model


@pytest.mark.parametrize("coder", coders.NAMES)
def test_every_rate_decodes_bit_exactly_and_costs_more_bits_with_lambda(model, coder):
  if model.arch == "cheng2020" and coder == "tf":
    pytest.skip("serial coding's one path, the other coder (test_context_models has both)")
  image = sample_image(64, 96)
  sizes = []
  for lmbda in (RANGE[0], 0.007, RANGE[1]):
    payload = coding.encode(model, image, coder=coder, lmbda=lmbda)
    np.testing.assert_array_equal(coding.decode(model, payload),
                                  hard_forward(model, image, lmbda))
    sizes.append(len(payload))
  assert sizes[0] <= sizes[1] <= sizes[2] and sizes[0] < sizes[2], sizes
  fixed_header = 31 if model.num_strings > 1 else 28  # a fixed-rate file's, + 2 bytes
  assert container.overhead(payload) <= fixed_header + 2


def test_the_step_is_learned_at_anchors_and_interpolated_in_log_lambda():
  step = variable_rate.QuantizationStep(RANGE, anchors=3)
  latent = tf.zeros([1, 2, 2, 4])
  step(latent, tf.constant([RANGE[0]]))
  step.log_step.assign(tf.math.log([[1.0, 2, 4, 8], [2, 2, 2, 2], [4, 1, 1, 1]]))
  middle = math.sqrt(RANGE[0] * RANGE[1])
  quarter = RANGE[0] * (RANGE[1] / RANGE[0]) ** 0.25
  got = step(latent, tf.constant([RANGE[0], middle, quarter, RANGE[1], 1.0])).numpy()[:, 0, 0]
  np.testing.assert_allclose(got[:4], [[1, 2, 4, 8], [2, 2, 2, 2],
                                       np.sqrt([2, 4, 8, 16]), [4, 1, 1, 1]], rtol=1e-5)
  np.testing.assert_allclose(got[4], [4, 1, 1, 1], rtol=1e-6)  # clipped to the range
  for lmbda in (RANGE[0], 0.0031, middle, RANGE[1]):
    code = step.code(lmbda)
    assert abs(float(step.lmbda(code)) / lmbda - 1) < 1e-4
    assert step.code(float(step.lmbda(code))) == code
  with pytest.raises(ValueError, match="outside this model's range"):
    step.code(0.06)


def test_rate_gains_start_at_one_and_make_the_transforms_depend_on_lambda():
  """Gains between the transforms' layers: a variable-rate model copied into a rate-gained one
  computes as before; once the gains move, each λ gets its own transforms, in training and in
  the files alike; a fixed-rate model has none to take."""
  tf.random.set_seed(0)
  plain = models.create("balle2018", lmbda=list(RANGE), **tiny("balle2018"))
  gained = models.create("balle2018", lmbda=list(RANGE), rate_gains=True, **tiny("balle2018"))
  assert models.copy_shared_variables(plain, gained) == len(plain.variables)
  assert len(gained.gains("analysis")) == len(gained.gains("synthesis")) == 3
  encoder = {v.ref() for v in gained.encoder_variables}  # STH-Q's second stage freezes them
  assert all(gain.log_gain.ref() in encoder for gain in gained.gains("analysis"))
  assert not any(gain.log_gain.ref() in encoder for gain in gained.gains("synthesis"))
  x = tf.constant(np.stack([sample_image(64, 64)] * 2), tf.float32) / 255.0
  lmbdas = tf.constant([RANGE[0], 0.01])
  # An untrained model may round its whole latent to zero, which no gain moves: the transforms
  # are compared on their own, the synthesis on a latent that is not zero.
  y_hat = tf.random.normal(tf.shape(plain.coded_latent(x, lmbdas)))

  def transforms(model):
    return (model.coded_latent(x, lmbdas).numpy(),
            model.transform("synthesis", y_hat, lmbdas).numpy())

  before = transforms(plain)
  for got, expected in zip(transforms(gained), before):
    np.testing.assert_array_equal(got, expected)
  np.testing.assert_array_equal(gained(x, training=False, lmbda=lmbdas)["x_hat"],
                                plain(x, training=False, lmbda=lmbdas)["x_hat"])
  for gain in gained.gains("analysis") + gained.gains("synthesis"):
    gain.log_gain.assign(tf.random.normal(gain.log_gain.shape, stddev=0.3))
  for got, expected in zip(transforms(gained), before):
    assert np.abs(got - expected).max() > 1e-3
  gained.finalize()
  image = sample_image(64, 96)
  for lmbda in (RANGE[0], 0.01):
    np.testing.assert_array_equal(coding.decode(gained, coding.encode(gained, image,
                                                                       lmbda=lmbda)),
                                  hard_forward(gained, image, lmbda))
  with pytest.raises(ValueError, match="rate_gains needs a variable-rate model"):
    models.create("balle2018", lmbda=0.01, rate_gains=True, **tiny("balle2018"))


def test_initial_steps_follow_one_over_root_lambda():
  step = variable_rate.QuantizationStep(RANGE)
  low, high = step(tf.zeros([1, 1, 1, 2]), tf.constant(RANGE)).numpy()[:, 0, 0, 0]
  assert abs(low / high - math.sqrt(RANGE[1] / RANGE[0])) < 1e-4


def test_loss_is_lambda_times_distortion_plus_rate_per_example(model):
  image = tf.constant(np.stack([sample_image(64, 64), sample_image(64, 64, index=1)]),
                      tf.float32) / 255.0
  lmbdas = tf.constant([RANGE[0], RANGE[1]])
  together = model(image, training=False, lmbda=lmbdas)
  alone = [model(image[i:i + 1], training=False, lmbda=lmbdas[i:i + 1]) for i in range(2)]
  np.testing.assert_allclose(float(together["loss"]),
                             np.mean([float(a["loss"]) for a in alone]), rtol=1e-5)
  for a, lmbda in zip(alone, (RANGE[0], RANGE[1])):
    np.testing.assert_allclose(float(a["loss"]), lmbda * float(a["mse"]) + float(a["bpp"]),
                               rtol=1e-5)


def test_lambda_balance_keeps_the_loss_and_divides_each_examples_gradient_by_its_loss(model):
  image = tf.constant(np.stack([sample_image(64, 64), sample_image(64, 64, index=1)]),
                      tf.float32) / 255.0
  lmbdas = tf.constant([RANGE[0], RANGE[1]])
  variables = model.synthesis.trainable_variables

  def gradients(x, lmbda, balance=0.0):
    with tf.GradientTape() as tape:
      result = model(x, training=False, lmbda=lmbda)
      value = train_step.objective(result, balance)
    return float(value), float(result["loss"]), tape.gradient(value, variables)

  alone = [gradients(image[i:i + 1], lmbdas[i:i + 1]) for i in range(2)]
  mean = np.mean([loss for loss, _, _ in alone])
  assert alone[1][0] > 2 * alone[0][0]  # the high λ's loss is the larger
  weighted = lambda p: [(mean / loss)**p for loss, _, _ in alone]
  for balance in (0.0, 0.5, 1.0):  # weights (mean / loss)^balance, scaled to keep the loss
    scale = mean / np.mean([w * loss for w, (loss, _, _) in zip(weighted(balance), alone)])
    weights = [scale * w / 2 for w in weighted(balance)]
    value, loss, grads = gradients(image, lmbdas, balance)
    assert value == pytest.approx(loss, rel=1e-6) and loss == pytest.approx(mean, rel=1e-5)
    for index, grad in enumerate(grads):
      expected = sum(w * g[2][index] for w, g in zip(weights, alone))
      np.testing.assert_allclose(grad, expected, rtol=1e-3,
                                 atol=1e-4 * float(tf.reduce_max(tf.abs(expected))))


def test_files_carry_the_rate_inside_their_checks(model):
  image = sample_image(64, 64)
  payload = coding.encode(model, image, lmbda=0.01)
  assert payload[4] == container.RATE_VERSION
  parsed = container.unpack(payload)
  assert parsed.rate_code == model.rate_code(0.01)
  # A forged rate code under a recomputed file CRC: the symbol checksum covers it.
  forged = container.pack(dataclasses.replace(parsed, rate_code=parsed.rate_code + 1))
  with pytest.raises(BitstreamError, match="checksum|side information"):
    coding.decode(model, forged)
  without = container.pack(dataclasses.replace(parsed, rate_code=None))
  with pytest.raises(BitstreamError, match="lacks a rate code"):
    coding.decode(model, without)
  # The rate flag in a version 3 header is refused.
  body = bytearray(payload[:-4])
  body[4] = container.VERSION
  with pytest.raises(BitstreamError, match="rate code flag"):
    container.unpack(bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "big"))
  with pytest.raises(ValueError, match="needs a λ"):
    coding.encode(model, image)


def test_fixed_rate_models_take_no_lambda_and_write_version_3():
  model = models.create("balle2018", **tiny("balle2018"))
  model.finalize()
  payload = coding.encode(model, sample_image(64, 64))
  assert payload[4] == container.VERSION and container.unpack(payload).rate_code is None
  with pytest.raises(ValueError, match="trained for one λ"):
    coding.encode(model, sample_image(64, 64), lmbda=0.01)


def test_target_bpp_bisects_the_rate(model, tmp_path):
  if model.arch != "balle2018":
    pytest.skip("one architecture shows the search")
  source = str(tmp_path / "in.png")
  files.write_atomically(source, files.png_bytes(sample_image(128, 128)))
  low = 8 * len(coding.encode(model, sample_image(128, 128), lmbda=RANGE[0])) / 128**2
  high = 8 * len(coding.encode(model, sample_image(128, 128), lmbda=RANGE[1])) / 128**2
  target = math.sqrt(low * high)
  for strict in (False, True):
    _, size, _ = files.compress_to_target([model], source, str(tmp_path / "out.tfq"), target,
                                          strict)
    assert abs(8 * size / 128**2 / target - 1) < 0.02, (8 * size / 128**2, target)
    assert not strict or 8 * size / 128**2 <= target


def test_training_a_variable_rate_run_resumes_and_starts_from_a_fixed_rate_one(tmp_path):
  common = dict(arch="balle2018", batch_size=2, patch_size=64, lr=1e-3, train_glob=SAMPLES,
                checkpoint_every=5, summary_every=5, **tiny("balle2018"))
  fixed = train.train(train.resolve_config(overrides=dict(
      common, steps=5, train_dir=str(tmp_path / "fixed"))), progress=False)
  config = train.resolve_config(overrides=dict(
      common, steps=5, lmbda=RANGE[0], lmbda_max=RANGE[1], train_dir=str(tmp_path / "vr"),
      init_from=str(tmp_path / "fixed"), lmbda_balance=0.5,
      arch_options={"rate_gains": True}))
  first = train.Trainer(config)
  first.restore()
  np.testing.assert_array_equal(first.model.synthesis.variables[0].numpy(),
                                fixed.model.synthesis.variables[0].numpy())
  gains = first.model.gains("synthesis")[0].log_gain
  np.testing.assert_array_equal(gains.numpy(), 0.0)  # not in the start: gains of 1
  trainer = train.train(config, progress=False)
  assert trainer.model.variable_rate and trainer.step == 5
  assert np.abs(trainer.model.gains("synthesis")[0].log_gain.numpy()).max() > 0  # trained
  config = dataclasses.replace(config, steps=8)
  resumed = train.train(config, progress=False)
  assert resumed.step == 8
  loaded = models.load(str(tmp_path / "vr"))
  assert loaded.lmbda == list(RANGE) and loaded.get_config()["rate_gains"]
  with pytest.raises(ValueError, match="lambda_max must be above"):
    train.resolve_config(overrides=dict(common, lmbda=0.01, lmbda_max=0.005,
                                        train_dir=str(tmp_path / "bad")))
  for listed, problem in (("0.004,x", "numbers separated by commas"),
                          ("0.004,0.2", r"within \[--lambda, --lambda_max\]"),
                          ("0.004", "at least 2 distinct")):
    with pytest.raises(ValueError, match=problem):
      train.resolve_config(overrides=dict(common, lmbda=RANGE[0], lmbda_max=RANGE[1],
                                          lmbda_list=listed, train_dir=str(tmp_path / "bad")))
  for balance, problem in ((1.5, r"within \[0, 1\]"), (0.5, "needs --lambda_max")):
    with pytest.raises(ValueError, match=problem):
      train.resolve_config(overrides=dict(common, lmbda_balance=balance,
                                          train_dir=str(tmp_path / "bad")))
  with pytest.raises(ValueError, match="needs a variable-rate model"):
    train.resolve_config(overrides=dict(common, lmbda_list="0.004,0.02",
                                        train_dir=str(tmp_path / "bad")))


def test_training_at_a_list_of_lambdas_draws_each_example_from_it():
  model = models.create("balle2018", lmbda=list(RANGE), **tiny("balle2018"))
  model(tf.zeros([1, 64, 64, 3]))
  listed = [0.004, 0.02]

  def drawn(x, training, step, lmbda):  # the model, reporting the λ drawn as its metrics
    result = model(x, training=training, step=step, lmbda=lmbda)
    return dict(result, bpp=tf.reduce_min(lmbda), mse=tf.reduce_max(lmbda))

  optimizer = tf.keras.optimizers.Adam(1e-4)
  optimizer.build(model.trainable_variables)
  step = train_step.distributed_step(drawn, optimizer, tf.distribute.get_strategy(),
                                     model.trainable_variables, listed)
  batches = iter(data.patch_dataset(data.image_paths(data.sample_dir()), 64, 4, seed=0))
  seen = set()
  for _ in range(5):
    metrics, _ = step(batches)
    seen |= {round(float(metrics[k]), 6) for k in ("bpp", "mse")}
  assert seen == {0.004, 0.02}


def test_evaluate_sweeps_one_model_into_one_curve(model):
  if model.arch != "balle2018":
    pytest.skip("one architecture shows the sweep")
  paths = data.image_paths(data.sample_dir())[:1]
  points = [evaluate.evaluate(codec, paths, estimate=True)
            for codec in evaluate.ModelCodec.at_rates(model, 3)]
  assert [p["settings"]["lmbda"] for p in points] == pytest.approx(
      [RANGE[0], math.sqrt(RANGE[0] * RANGE[1]), RANGE[1]], rel=1e-4)
  (curve,) = rd_curves.curves(points).values()
  rates = [p["mean"]["bpp"] for p in points]
  assert len(curve) == 3 and rates == sorted(rates) and rates[0] < rates[-1]
  assert [c.settings["lmbda"] for c in evaluate.ModelCodec.at_rates(model, [0.01])] == [
      pytest.approx(0.01, rel=1e-4)]


def test_export_takes_the_rate_as_an_input_and_writes_the_librarys_bytes(model, tmp_path):
  if model.arch != "balle2018":
    pytest.skip("one architecture shows the export")
  image = sample_image(64, 96)
  loaded = tf.saved_model.load(export.export(model, str(tmp_path), coder="tf"))
  payload = loaded.signatures["compress"](image=tf.constant(image), lmbda=tf.constant(0.01))[
      "bitstream_bytes"].numpy()
  assert payload == coding.encode(model, image, coder="tf", lmbda=0.01)
  decoded = loaded.signatures["decompress"](bitstream_bytes=tf.constant(payload))["image"]
  np.testing.assert_array_equal(decoded.numpy(), coding.decode(model, payload))
  with pytest.raises(tf.errors.InvalidArgumentError, match="outside this model"):
    loaded.signatures["compress"](image=tf.constant(image), lmbda=tf.constant(0.5))


def test_damaged_or_forged_files_are_refused_or_decode_exactly(model):
  if model.arch != "balle2018":
    pytest.skip("one architecture; test_coding fuzzes the container at length")
  data = coding.encode(model, sample_image(48, 80), lmbda=0.01)
  counts = fuzzing.run(model, data, cases=100)
  assert all(set(c) <= {"refused", "exact"} for c in counts.values()), dict(counts)
  assert counts["forged_rate"]["refused"] >= 9  # a code off by any amount changes every pixel


def test_the_demos_rate_slider_steps_through_one_models_rates(tmp_path):
  # in its own process: the demo's flags would clash with the commands' in this one
  script = ("import sys\nfrom tfquant import demo, models\nfrom tests.helpers import tiny\n"
            "model = models.create('balle2018', lmbda=[0.002, 0.05], **tiny('balle2018'))\n"
            "model.finalize()\ndemo.rate_slider(model, sys.argv[1], sys.argv[2], rates=3)\n")
  path, out = data.image_paths(data.sample_dir())[0], tmp_path / "slider"
  run = subprocess.run([sys.executable, "-c", script, path, str(out)], capture_output=True,
                       text=True, timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
  assert run.returncode == 0, run.stderr[-2000:]
  table = run.stdout.split("λ")[1].splitlines()[1:4]
  sizes = [int(line.split()[1]) for line in table]
  assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
  page = (out / "index.html").read_text()
  assert 'max="2"' in page and all(f'"file": "0{i}.png"' in page for i in range(3))
  for i in range(3):
    assert data.read_image(str(out / f"0{i}.png")).shape == data.read_image(path).shape
