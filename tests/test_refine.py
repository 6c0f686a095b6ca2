"""Encoder-side refinement: a searched latent costs less than the analysis transform's, in
real files the ordinary decoder decodes exactly."""

import numpy as np
import pytest
import tensorflow as tf

from tfquant import coding, evaluate, files, quantizers, refine
from tests.helpers import sample_image, trained

# 80 training steps on two threads do not repeat bit for bit: on these tiny models the search
# has gained from 1.2% to 36% of the loss, so a search must show a clear gain, not a typical one
CLEAR_GAIN = 0.995
CASES = [("balle2017", {}), ("balle2018", {}), ("minnen2018", {"context": "checkerboard"}),
         ("cheng2020", {"context": "checkerboard"})]


def real_loss(model, image, payload, lmbda):
  """λ·MSE + bpp of a file: its bytes and its decoded pixels."""
  decoded = np.asarray(coding.decode(model, payload))
  mse = np.mean((decoded.astype(np.float64) - image) ** 2)
  return lmbda * mse + 8 * len(payload) / (image.shape[0] * image.shape[1]), decoded


def assert_decodes_as_forward(decoded, forward):
  """The file's pixels are the hard forward pass's. The forward pass runs eagerly and the
  decoder in its graph (tiled synthesis): a refined latent, drawn at random, now and then
  puts a pixel at a rounding boundary, which the two, presumably ordering float operations
  differently, can split (CI saw one pixel of 18,432 off by one level)."""
  difference = np.abs(decoded.astype(int) - forward.astype(int))
  assert difference.max() <= 1 and np.mean(difference > 0) < 1e-3, difference.sum()


def decoded_from_latent(model, image, latent, lmbda=None):
  """The uint8 reconstruction of the hard-quantized forward pass from `latent`."""
  x = tf.constant(image[None], tf.float32) / 255.0
  rate = {} if lmbda is None else {"lmbda": tf.reshape(
      model.quantization_step.lmbda(model.rate_code(lmbda)), [1])}
  x_hat = model.latent_objective(x, latent, training=False, **rate)["x_hat"][0]
  return tf.saturate_cast(tf.round(x_hat * 255.0), tf.uint8).numpy()


@pytest.mark.parametrize("arch,options", CASES, ids=[arch for arch, _ in CASES])
def test_a_refined_latent_costs_less_and_decodes_exactly(arch, options):
  model = trained(arch, **options)
  image = sample_image(64, 96)
  latent, losses = refine.refined_latent(model, image, steps=30)
  assert losses["after"] < CLEAR_GAIN * losses["before"], losses
  plain = coding.encode(model, image)
  payload = coding.encode(model, image, latent=latent)
  plain_loss, _ = real_loss(model, image, plain, model.lmbda)
  refined_loss, decoded = real_loss(model, image, payload, model.lmbda)
  assert refined_loss < plain_loss, (refined_loss, plain_loss)
  assert_decodes_as_forward(decoded, decoded_from_latent(model, image, latent))


def test_the_search_runs_in_bfloat16_on_the_same_weights_and_chooses_in_float32():
  model = trained("balle2018")
  image = sample_image(64, 96)
  found = {precision: refine.refined_latent(model, image, steps=30, precision=precision)
           for precision in ("float32", "mixed_bfloat16")}
  twin = refine.search_twin(model, "mixed_bfloat16")
  assert twin is refine.search_twin(model, "mixed_bfloat16")  # built once per model
  assert refine.search_twin(model, "float32") is model
  assert twin.synthesis.compute_dtype == "bfloat16" and model.synthesis.compute_dtype == "float32"
  for mine, theirs in zip(model.synthesis.weights, twin.synthesis.weights):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
  kernel = model.synthesis.trainable_weights[0]
  trained_kernel = kernel.numpy()
  kernel.assign(trained_kernel + 1)  # weights trained on after the twin was built: it follows
  np.testing.assert_array_equal(refine.search_twin(model, "mixed_bfloat16").synthesis
                                .trainable_weights[0].numpy(), trained_kernel + 1)
  kernel.assign(trained_kernel)  # the cached model as it was
  for latent, losses in found.values():
    assert latent.dtype == tf.float32 and losses["after"] < CLEAR_GAIN * losses["before"], losses
  # the gains agree; each `after` is the float32 model's hard-rounded loss of its latent
  assert found["mixed_bfloat16"][1]["after"] == pytest.approx(found["float32"][1]["after"],
                                                              rel=0.02)


def test_no_steps_codes_the_analysis_transforms_latent():
  model = trained("balle2018")
  image = sample_image(64, 96)
  latent, losses = refine.refined_latent(model, image, steps=0)
  assert losses["before"] == losses["after"]
  assert coding.encode(model, image, latent=latent) == coding.encode(model, image)


def test_a_variable_rate_model_refines_at_the_rate_its_file_records():
  model = trained("balle2018", lmbda=(0.002, 0.05))
  image = sample_image(64, 96)
  for lmbda in (0.003, 0.03):
    latent, losses = refine.refined_latent(model, image, steps=20, lmbda=lmbda)
    assert losses["after"] < losses["before"], (lmbda, losses)
    payload = coding.encode(model, image, lmbda=lmbda, latent=latent)
    assert_decodes_as_forward(np.asarray(coding.decode(model, payload)),
                              decoded_from_latent(model, image, latent, lmbda))


def test_refinement_refuses_what_it_cannot_do(tmp_path):
  model = trained("balle2018")
  image = sample_image(64, 96)
  with pytest.raises(ValueError, match="steps"):
    refine.refined_latent(model, image, steps=-1)
  with pytest.raises(ValueError, match="pixels"):
    refine.refined_latent(model, np.zeros([2049, 2048, 3], np.uint8), steps=1)
  with pytest.raises(ValueError, match="shape"):
    coding.encode(model, image, latent=tf.zeros([1, 2, 2, 12]))
  source = tmp_path / "in.png"
  source.write_bytes(files.png_bytes(image))
  with pytest.raises(ValueError, match="dither"):
    files.compress_file(model, str(source), str(tmp_path / "out.tfq"), dither_seed=(1, 2),
                        refine_steps=5)
  assert not (tmp_path / "out.tfq").exists()


def test_a_relaxation_replaces_every_quantizer_around_where_the_coder_rounds():
  y = tf.constant([[0.2, 0.7, 1.4, -2.6]])
  noise = quantizers.get("noise")
  with quantizers.relaxed("ste"):
    relaxed = noise(y, offset=None, training=True, step=0, coded_offset=lambda: 0.5)
    inference = noise(y, training=False)
  np.testing.assert_allclose(relaxed, [[0.5, 0.5, 1.5, -2.5]])
  np.testing.assert_allclose(inference, [[0.0, 1.0, 1.0, -3.0]])
  assert not np.allclose(noise(y, training=True, step=0), relaxed)  # only inside
  with pytest.raises(ValueError, match="no weights"):
    with quantizers.relaxed(quantizers.get("dsq", learnable=True)):
      pass


def test_evaluate_and_compress_to_target_refine(tmp_path):
  model = trained("balle2018")
  image = sample_image(64, 96)
  codec = evaluate.ModelCodec(model, refine=10)
  assert codec.settings["refine"] == 10 and "refined" in codec.label
  assert coding.decode(model, codec.encode(image)).shape == image.shape
  source = tmp_path / "in.png"
  source.write_bytes(files.png_bytes(image))
  files.compress_to_target([model], str(source), str(tmp_path / "a.tfq"), 1.0)
  files.compress_to_target([model], str(source), str(tmp_path / "b.tfq"), 1.0, refine_steps=10)
  plain, refined = ((tmp_path / name).read_bytes() for name in ("a.tfq", "b.tfq"))
  assert refined != plain  # the chosen model's file, coded again from a refined latent
  assert coding.decode(model, refined).shape == image.shape
