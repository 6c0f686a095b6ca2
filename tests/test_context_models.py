"""Minnen18 / Cheng20: mixture likelihoods, context masks, serial and checkerboard coding."""

import dataclasses
import functools
import hashlib
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_compression as tfc

from tfquant import coding, models
from tfquant.coding import bisection, coders, container, rans
from tfquant.latent_codecs import (GaussianMixture, GaussianMixtureCodec, MaskedConv2D,
                                   integer_network, portable_math)
from tfquant.latent_codecs.integer_network import Fixed, IntegerLayer
from tfquant.models import layers
from tests.helpers import coded_bytes, hard_forward, random_image, sample_image, tiny, trained

# Models trained briefly: (arch, context) -> (entropy quantizer, decoder quantizer). Training
# a Cheng20 graph takes a minute, so the other modes reuse these weights (`variant`).
TRAINED = {("minnen2018", "none"): ("noise", "noise"),
           ("minnen2018", "serial"): ("universal", "dsq"),
           ("cheng2020", "checkerboard"): ("sga", "sga")}
CASES = [("minnen2018", "none", "integer"), ("minnen2018", "serial", "integer"),
         ("minnen2018", "checkerboard", "mean"), ("cheng2020", "checkerboard", "integer"),
         ("cheng2020", "serial", "integer"), ("cheng2020", "serial", "mean")]
STEPS = 40
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@functools.lru_cache(maxsize=None)
def case_model(arch, context, center):
  if (arch, context) in TRAINED and center == "integer":
    return trained(arch, *TRAINED[arch, context], steps=STEPS, context=context, center=center)
  source_context = next(c for a, c in TRAINED if a == arch and c != "none")
  source = case_model(arch, source_context, "integer")
  model = models.create(arch, **dict(source.get_config(), context=context, center=center))
  for target, value in zip(model.trainable_variables, source.trainable_variables):
    target.assign(value)
  model.finalize()
  return model


def random_mixture(n, k, seed):
  rng = np.random.RandomState(seed)
  weights = tf.nn.softmax(rng.randn(n, k).astype(np.float32) * 2, axis=-1)
  means = tf.constant(rng.randn(n, k).astype(np.float32) * 3)
  scales = tf.constant(np.exp(rng.uniform(np.log(0.11), np.log(30), (n, k))).astype(np.float32))
  return GaussianMixture(weights, means, scales)


def test_mixture_likelihood_is_a_pmf_and_matches_tfc_for_one_component():
  mixture = random_mixture(50, 3, seed=0)
  values = tf.range(-400.0, 401.0)[:, None] + 0.3 + tf.zeros([1, 50])
  pmf = tf.stack([mixture.likelihood(v) for v in tf.unstack(values)])
  np.testing.assert_allclose(tf.reduce_sum(pmf, 0), 1.0, atol=1e-5)
  single = random_mixture(50, 1, seed=1)
  noisy = tfc.NoisyNormal(loc=single.means[:, 0], scale=single.scales[:, 0])
  v = tf.random.normal([50]) * 10
  np.testing.assert_allclose(single.likelihood(v), noisy.prob(v), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("coder,portable", [(coder, False) for coder in coders.NAMES] +
                         [(coders.DEFAULT, True)])
def test_bisection_coding_round_trips_and_costs_the_ideal_bits(coder, portable):
  n, parts = 2000, 2
  mixture = random_mixture(n, 3, seed=2)
  offset = tf.random.uniform([n], -0.5, 0.5, seed=3)
  # Symbols drawn from the mixtures themselves, plus a few far-tail outliers.
  component = tf.random.categorical(tf.math.log(mixture.weights), 1, seed=4)[:, 0]
  pick = lambda t: tf.gather(t, component, batch_dims=1)
  draws = pick(mixture.means) + pick(mixture.scales) * tf.random.normal([n], seed=5)
  symbols = tf.cast(tf.round(draws - offset), tf.int32)
  symbols = tf.tensor_scatter_nd_update(symbols, [[0], [1], [2]], [30000, -32768, 32767])
  # Part by part, as a context model codes groups: both ends compute each part's decision
  # probabilities with the same operations on the same shapes (float results may depend on
  # them), the encoder codes all parts' reads at once, the decoder reads part by part, looking
  # 2 halvings ahead where the encoder looked 1 (the same decisions, at another cost).
  windows = [slice(part * n // parts, (part + 1) * n // parts) for part in range(parts)]
  part_mixture = lambda w: GaussianMixture(mixture.weights[w], mixture.means[w],
                                           mixture.scales[w], portable)

  @tf.function
  def encode():
    pieces = [bisection.decisions(symbols[w], part_mixture(w), offset[w]) for w in windows]
    flat = lambda k: tf.concat([tf.reshape(piece[k], [-1]) for piece in pieces], 0)
    return coders.get(coder).encode(flat(0), flat(1), bisection.TABLES,
                                    tf.fill([parts * bisection.DEPTH], n // parts))

  @tf.function
  def decode(string):
    reader = coders.get(coder).reader(string, bisection.TABLES, n * bisection.DEPTH)
    state, decoded = reader.initial, []
    for w in windows:
      state, symbols_part = bisection.decode(reader, state, part_mixture(w), offset[w],
                                             n // parts, look_ahead=2)
      decoded.append(symbols_part)
    return tf.concat(decoded, 0), reader.finish(state)

  string = encode()

  decoded, ok = decode(string)
  assert bool(ok)
  np.testing.assert_array_equal(decoded, symbols)
  probability = mixture.likelihood(tf.cast(symbols, tf.float32) + offset)[3:]
  ideal_bits = float(tf.reduce_sum(-tf.math.log(probability)) / math.log(2))
  string = string.numpy()
  lane_states = 8 * (1 + rans.STATE_BYTES * string[0]) if coder == "tf" else 0
  coded_bits = 8 * len(string) - lane_states
  assert coded_bits <= 1.01 * ideal_bits + 3 * 16 + 64, (coded_bits, ideal_bits)
  w = windows[0]
  bits, tables = bisection.decisions(symbols[w], part_mixture(w), offset[w])
  for look_ahead in (2, 4):
    ahead = bisection.decisions(symbols[w], part_mixture(w), offset[w], look_ahead)
    np.testing.assert_array_equal(ahead[0], bits)
    np.testing.assert_array_equal(ahead[1], tables)
  with pytest.raises(tf.errors.InvalidArgumentError, match="coding range"):
    bisection.decisions(tf.constant([1 << 15]), random_mixture(1, 3, seed=0), tf.zeros([1]))


def test_portable_mixture_tables_are_the_same_in_every_graph():
  """Under integer entropy parameters a mixture's decision tables are a function of the
  parameters' bits alone: the same eagerly, in a graph, and at any place in a batch, and
  pinned here for every machine. Grappler turns 1/x into a Reciprocal op, which
  approximates with bits that differ between CPUs, and reassociates chains of adds by rules
  that depend on the graph around them: either gives other tables in other graphs, and
  files that other CPUs refuse."""
  rng = np.random.RandomState(9)
  n, k, channels, shift = 600, 3, 4, 5
  params = tf.constant(np.concatenate([rng.randn(n, channels * k) * 4,  # logits
                                       rng.randn(n, channels * k) * 3,  # means
                                       rng.randn(n, channels * k) * 8], 1), tf.float32)
  symbols = tf.constant(rng.randint(-6, 7, [n, channels]), tf.int32)
  codec = GaussianMixtureCodec(components=k)
  codec.build([None, channels])

  def tables(params, symbols):
    mixture = codec.mixture(params, integer=True).flatten()
    return bisection.decisions(tf.reshape(symbols, [-1]), mixture,
                               tf.zeros([tf.size(symbols)]))[1]

  eager = tables(params, symbols).numpy()
  np.testing.assert_array_equal(tf.function(tables)(params, symbols), eager)
  shifted = tf.function(tables)(params[shift:], symbols[shift:]).numpy()
  np.testing.assert_array_equal(shifted, eager[:, shift * channels:])
  assert hashlib.sha256(eager.tobytes()).hexdigest()[:16] == "7974bd6983d046b5"


def test_portable_exp_and_erfc_are_accurate_and_the_same_bits_everywhere():
  """The mixture's coding probabilities under integer entropy parameters use these: only
  IEEE arithmetic, so their bits are pinned here for every machine."""
  x = np.linspace(0.0, 30.0, 30001, dtype=np.float32)
  erfc = portable_math.erfc(x).numpy()
  exact = np.array([math.erfc(v) for v in x.astype(np.float64)])
  in_range = x <= portable_math.ERFC_MAX
  np.testing.assert_allclose(erfc[in_range], exact[in_range], rtol=2e-7)
  assert np.all(erfc[x > portable_math.ERFC_MAX] == portable_math.erfc(9.0).numpy())
  assert np.all(portable_math.erfc([0.0, 1e-30, portable_math.ERFC_MIN]).numpy() == 1.0)
  table = portable_math.erfc_segments()
  assert np.all((np.abs(table) >= np.finfo(np.float32).tiny) | (table == 0))
  exponents = np.linspace(-87.0, 87.0, 6001, dtype=np.float32)
  exp = portable_math.exp(exponents).numpy()
  np.testing.assert_allclose(exp, np.exp(exponents.astype(np.float64)), rtol=3e-7)
  assert np.all(portable_math.exp([-1000.0, -87.0]).numpy() >= np.finfo(np.float32).tiny)
  pins = hashlib.sha256(table.tobytes() + erfc.tobytes() + exp.tobytes()).hexdigest()[:16]
  assert pins == "c02b6ddff8845d9a"


def test_masks_only_see_already_decoded_neighbours():
  y = tf.random.normal([1, 6, 7, 3])
  for mask in MaskedConv2D.MASKS:
    conv = MaskedConv2D(4, mask)
    with tf.GradientTape() as tape:
      tape.watch(y)
      out = conv(y)[0, 3, 3]
    seen = tf.reduce_any(tape.gradient(out, y)[0] != 0, axis=-1).numpy()
    rows, cols = np.nonzero(seen)
    if mask == "serial":
      assert all(r < 3 or (r == 3 and c < 3) for r, c in zip(rows, cols))
    else:
      assert all((r + c) % 2 == 1 for r, c in zip(rows, cols))
    assert seen.sum() == (12 if mask == "serial" else 12)


def test_unknown_options_are_clear():
  with pytest.raises(ValueError, match="latent_filters"):
    models.create("cheng2020", num_filters=8, latent_filters=12)
  with pytest.raises(ValueError, match="context"):
    models.create("minnen2018", context="zigzag", **tiny("minnen2018"))
  with pytest.raises(ValueError, match="center"):
    models.create("cheng2020", center="median", num_filters=8)


def test_untrained_cheng2020_reconstructs_on_the_image_scale():
  # With TFC's default initializer this was ~100 (and lr 1e-3 training diverged).
  tf.random.set_seed(0)
  model = models.create("cheng2020", num_filters=64, context="checkerboard")
  x = tf.constant(sample_image(128, 128)[None], tf.float32) / 255.0
  reconstruction = model.synthesis(tf.round(model.analysis(x)))
  assert float(tf.math.reduce_std(reconstruction)) < 1.0


@pytest.mark.parametrize("coder", coders.NAMES)
@pytest.mark.parametrize("arch,context,center", CASES)
def test_round_trip_equals_hard_forward_at_odd_sizes(arch, context, center, coder):
  model = case_model(arch, context, center)
  images = [random_image(1, 1), random_image(17, 33, seed=1)]
  if coder == "tfc":  # the other coder's images: the same code paths, less tracing
    images += [sample_image(96, 128), sample_image(70, 101, index=2)]
  for image in images:
    decoded = model.decompress(*model.compress(image, coder=coder), coder=coder).numpy()
    assert decoded.shape == image.shape
    if center == "integer":
      np.testing.assert_array_equal(decoded, hard_forward(model, image))
      continue
    # Rounding around means: the forward pass's float means and the coded integer ones differ
    # by ~2⁻¹⁴ relative, which moves the rare values that close to a rounding boundary (and,
    # serially, the context after them). The float entropy parameters code exactly what the
    # forward pass computes.
    mse = np.mean((decoded.astype(float) - hard_forward(model, image)) ** 2)
    assert 10 * np.log10(255**2 / max(mse, 1e-10)) > 35, mse
    floating = model.decompress(*model.compress(image, coder=coder, integer=False), coder=coder,
                                integer=False).numpy()
    np.testing.assert_array_equal(floating, hard_forward(model, image))


@pytest.mark.parametrize("arch,context,center", [c for c in CASES if c[2] == "integer"])
def test_coded_bytes_close_to_ideal(arch, context, center):
  model = case_model(arch, context, center)
  image = sample_image(192, 256, index=3)
  x = tf.constant(image[None], tf.float32) / 255.0
  ideal_bytes = float(model(x, training=False)["bpp"]) * image.shape[0] * image.shape[1] / 8
  actual = coded_bytes(model.compress(image))
  # A mixture's bisection codes the model's own probabilities: the file costs what the model
  # says. A single Gaussian's tables quantize σ and the shift, which moves a briefly trained
  # model's cost either way; an overshoot is the coder's overhead and stays small, while the
  # table's gain (up to ~7% with these 40-step models, whose training threads do not repeat
  # bit for bit) only bounds how wrong the estimate may be.
  over, under = (0.01, 0.01) if model.latent_codecs["y"].components > 1 else (0.05, 0.12)
  assert actual <= (1 + over) * ideal_bytes + 8, (actual, ideal_bytes)
  assert actual >= (1 - under) * ideal_bytes - 8, (actual, ideal_bytes)


@pytest.mark.parametrize("arch", ["minnen2018", "cheng2020"])
def test_serial_step_predictions_equal_masked_convolution(arch):
  model = case_model(arch, "serial", "integer")
  entropy = model.entropy
  x = tf.constant(sample_image(64, 128)[None], tf.float32) / 255.0
  y = model.analysis(x)
  y_hat = tf.round(y)
  hyper = entropy.hyper_synthesis(entropy.z_codec.quantize(entropy.hyper_analysis(y)))
  height, width = y.shape[1:3]

  def record(i, j, parameters, steps):
    return y_hat[:, i, j, :], steps.write(i * width + j, parameters)

  steps, serial_y = entropy._serial(  # pylint: disable=protected-access
      hyper, record, tf.TensorArray(tf.float32, height * width), with_state=True)
  serial = tf.reshape(steps.stack(), [height, width, -1])
  parallel = entropy.parameters(hyper, y_hat)[0]
  np.testing.assert_array_equal(serial_y, y_hat)
  np.testing.assert_allclose(serial, parallel, rtol=1e-4, atol=1e-4)


def test_checkerboard_anchors_ignore_the_context():
  model = case_model("cheng2020", "checkerboard", "integer")
  entropy = model.entropy
  hyper = tf.random.normal([1, 4, 6, 2 * 8])
  y_hat = tf.round(tf.random.normal([1, 4, 6, 8]) * 3)
  with_context = entropy.parameters(hyper, y_hat)[0].numpy()
  without = entropy.parameters(hyper, tf.zeros_like(y_hat))[0].numpy()
  anchors = (np.add.outer(np.arange(4), np.arange(6)) % 2 == 0)
  np.testing.assert_array_equal(with_context[anchors], without[anchors])
  assert not np.allclose(with_context[~anchors], without[~anchors])


def test_checkerboard_mean_training_rounds_around_the_final_means():
  """U-Q draws one dither per call: the anchors behind the non-anchors' means must be the
  ones returned, so every value sits a dither away from the grid around its final mean."""
  model = models.create("minnen2018", context="checkerboard", center="mean",
                        ent_quant="universal", **tiny("minnen2018"))
  entropy, codec = model.entropy, model.entropy.y_codec
  y = tf.random.normal([1, 8, 8, codec.channels]) * 3
  hyper = tf.random.normal([1, 8, 8, 2 * codec.channels])
  entropy(y, training=False)  # builds
  entropy._side = lambda *args: (hyper, tf.zeros([1]))  # pylint: disable=protected-access
  y_dec, _ = entropy(y, training=True, step=0)
  mean = codec.mixture(entropy.parameters(hyper, y_dec)).mean
  phase = np.exp(2j * np.pi * (y_dec - mean).numpy())
  anchors = np.add.outer(np.arange(8), np.arange(8)) % 2 == 0
  for group in (anchors, ~anchors):
    values = phase[0][group]
    np.testing.assert_allclose(values, np.full_like(values, values[0, 0]), atol=1e-3)


def test_dithered_coding_with_context():
  model = models.create("minnen2018", context="checkerboard", ent_quant="universal",
                        **tiny("minnen2018"))
  model.finalize()
  image = sample_image(64, 96)
  seed = (7, 11)
  decoded = model.decompress(*model.compress(image, dither_seed=seed), dither_seed=seed)
  x = tf.constant(image[None], tf.float32) / 255.0
  u = model.dither(seed)
  y_hat = tf.round(model.analysis(models.base.pad_to_multiple(x, model.stride)) + u) - u
  x_hat = model.synthesis(y_hat)[0, :64, :96]
  np.testing.assert_array_equal(decoded, tf.saturate_cast(tf.round(x_hat * 255), tf.uint8))


def test_save_and_reload_code_identically(tmp_path):
  model = case_model("cheng2020", "serial", "mean")
  models.save(model, str(tmp_path))
  clone = models.load(str(tmp_path))
  image = sample_image(64, 64)
  pieces = model.compress(image)
  for a, b in zip(pieces, clone.compress(image)):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  np.testing.assert_array_equal(clone.decompress(*pieces), model.decompress(*pieces))


def test_integer_layers_are_exact_whatever_the_summation_order():
  rng = np.random.RandomState(0)
  inputs = tf.constant(rng.randn(1, 6, 5, 40).astype(np.float32) * 30)
  order = rng.permutation(40)  # a convolution over permuted channels sums in another order
  for kind, kernel_shape, stride in (("conv", (5, 5, 40, 24), 2), ("up", (5, 5, 40, 24), 2),
                                     ("dense", (40, 24), 1)):
    kernel = rng.randn(*kernel_shape).astype(np.float32) * 0.05
    bias = rng.randn(24).astype(np.float32)
    layer = IntegerLayer(kernel, bias, kind, stride, tf.nn.leaky_relu)
    permuted = IntegerLayer(np.take(kernel, order, axis=-2), bias, kind, stride,
                            tf.nn.leaky_relu)
    fixed = Fixed.from_float(inputs)
    out = layer(fixed)
    again = permuted(Fixed(tf.gather(fixed.mantissas, order, axis=-1), fixed.exponent))
    np.testing.assert_array_equal(out.mantissas, again.mantissas)
    assert int(out.exponent) == int(again.exponent)
    assert np.all(np.abs(out.mantissas) <= 2**integer_network.MANTISSA_BITS)
    if kind == "dense":
      expected = tf.nn.leaky_relu(tf.tensordot(inputs, kernel, 1) + bias)
    else:
      half = kernel_shape[0] // 2
      padded = tf.pad(inputs, [[0, 0], [half, half], [half, half], [0, 0]])
      expected = tf.nn.leaky_relu(bias + (
          tf.nn.conv2d(padded, kernel, stride, "VALID") if kind == "conv" else tf.slice(
              tf.nn.conv2d_transpose(inputs, np.transpose(kernel, (0, 1, 3, 2)),
                                     [1, 6 * stride + 2 * half, 5 * stride + 2 * half, 24],
                                     stride, "VALID"),
              [0, half, half, 0], [-1, 6 * stride, 5 * stride, -1])))
    np.testing.assert_allclose(out.to_float(), expected, atol=2e-3 * float(
        tf.reduce_max(tf.abs(expected))))


def test_rdft_kernels_on_the_integer_path_come_from_no_fft_library():
  """TFC's RDFT kernels come from an inverse FFT whose last bits differ between CPUs and
  GPUs; the integer twins take theirs from the closed-form map, the same everywhere."""
  for height, width in ((1, 1), (3, 3), (5, 5), (4, 6)):
    count = height * (width // 2 + 1)
    units = tf.reshape(tf.eye(count, dtype=tf.float64), [count, height, width // 2 + 1])
    norm = tf.constant((height * width) ** 0.5, tf.complex128)
    fft = tf.concat([tf.reshape(tf.signal.irfft2d(tf.complex(real, imag) * norm,
                                                  [height, width]), [count, -1])
                     for real, imag in ((units, 0 * units), (0 * units, units))], 0)
    np.testing.assert_allclose(integer_network.inverse_rdft_matrix(height, width), fft,
                               rtol=0, atol=1e-14)
  rng = np.random.RandomState(0)
  layer = layers.up(6, 3, 2, tf.nn.leaky_relu)
  layer.build([None, None, None, 5])
  for part in (layer.kernel_parameter.real, layer.kernel_parameter.imag):
    part.assign(rng.randn(*part.shape).astype(np.float16).astype(np.float32))  # as a zoo entry
  kernel = integer_network.portable_rdft_kernel(layer.kernel_parameter)
  np.testing.assert_allclose(kernel, layer.kernel, atol=1e-5)  # TFC's, to float32 rounding
  # Pinned bits: a machine that computed them differently would choose other tables.
  assert hashlib.sha256(kernel.tobytes()).hexdigest()[:16] == "ea157ed50d0bb7d3"
  twin = integer_network.integer_layer(layer)
  np.testing.assert_array_equal(twin.kernel, np.round(np.ldexp(
      kernel.astype(np.float64), twin.kernel_exponent)))


def test_integer_parameters_code_what_float_ones_do_and_files_say_which():
  model = case_model("minnen2018", "serial", "integer")
  image = sample_image(64, 96)
  sizes = {}
  for integer in (False, True):
    pieces = model.compress(image, integer=integer)
    sizes[integer] = coded_bytes(pieces)
    np.testing.assert_array_equal(
        model.decompress(*pieces[:2], *pieces[2:], integer=integer), hard_forward(model, image))
  assert abs(sizes[True] - sizes[False]) <= 0.01 * sizes[False] + 2, sizes
  data = coding.encode(model, image)
  assert container.unpack(data).integer and model.has_integer_parameters
  floating = models.create("balle2017", **tiny("balle2017"))
  floating.finalize()
  assert not floating.has_integer_parameters
  forged = container.unpack(coding.encode(floating, image))
  assert not forged.integer
  forged = container.pack(dataclasses.replace(forged, integer=True))
  with pytest.raises(coding.BitstreamError, match="integer entropy parameters"):
    coding.decode(floating, forged)


def test_serial_integer_positions_code_the_same_bytes_compiled_or_not():
  """The coding graphs run the serial context's integer network XLA-compiled; an export
  traces it as separate ops: both write and read the same files."""
  model = case_model("minnen2018", "serial", "integer")
  image = tf.constant(sample_image(48, 64))
  compiled = model.compress(image)
  separate = tf.function(functools.partial(model.compress_tensors, integer=True),
                         autograph=False)(image)
  for a, b in zip(compiled, separate):
    np.testing.assert_array_equal(a, b)
  decoded, actual, ok = tf.function(functools.partial(model.decompress_tensors, integer=True),
                                    autograph=False)(0.0, *separate)
  assert bool(ok) and np.array_equal(actual, compiled[1])
  np.testing.assert_array_equal(decoded, model.decompress(*compiled))


ENCODE_ELSEWHERE = """
import os
import sys
import numpy as np
from tfquant import coding, models
image, out = np.load(sys.argv[1]), sys.argv[2]
for directory, coder in zip(sys.argv[3::2], sys.argv[4::2]):
  with open(os.path.join(out, f"{os.path.basename(directory)}.tfq"), "wb") as f:
    f.write(coding.encode(models.load(directory), image, coder=coder))
"""


def test_files_written_with_other_cpu_kernels_decode_exactly(tmp_path):
  """Encoded in a process whose convolutions and products run Eigen's kernels (oneDNN off),
  and here on the default ones (oneDNN): float entropy parameters drift in their last bits
  between the two, integer ones do not, so both write the same bytes and every architecture
  and context mode decodes them exactly. The coders take turns (what drifts is the tables, not
  the coder). `make stress` (`tests.portability`) runs the whole matrix, both coders for each
  model and oneDNN limited to AVX2 included, on the zoo's models."""
  cases = {f"{arch}-{context}": case_model(arch, context, "integer")
           for arch, context, center in CASES if center == "integer"}
  cases.update((arch, trained(arch)) for arch in ("balle2017", "balle2018"))
  coder_of = {name: coders.NAMES[i % len(coders.NAMES)] for i, name in enumerate(cases)}
  assert set(coder_of.values()) == set(coders.NAMES)
  image = sample_image(64, 96, index=1)
  np.save(tmp_path / "image.npy", image)
  for name, model in cases.items():
    models.save(model, str(tmp_path / "models" / name))
  encoded = subprocess.run(
      [sys.executable, "-c", ENCODE_ELSEWHERE, str(tmp_path / "image.npy"), str(tmp_path),
       *(arg for name in cases for arg in (str(tmp_path / "models" / name), coder_of[name]))],
      capture_output=True, text=True, cwd=REPO, timeout=600,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0"))
  assert encoded.returncode == 0, encoded.stderr[-3000:]
  for name, model in cases.items():
    coder = coder_of[name]
    eigen = (tmp_path / f"{name}.tfq").read_bytes()
    assert eigen == coding.encode(model, image, coder=coder), f"{name}, {coder}"
    assert container.unpack(eigen).integer == model.has_integer_parameters
    np.testing.assert_array_equal(coding.decode(model, eigen), hard_forward(model, image),
                                  err_msg=f"{name}, {coder}")
