"""Encoder-side refinement: a better latent for one image, for the same decoder.

The analysis transform is amortized inference: one pass gives a latent that is good on
average over the training images, not the best one for this image. Refinement searches
onwards from it by gradient descent on this image's own loss λ·D + R (Campos et al., CVPR
Workshops 2019; Yang et al., NeurIPS 2020, where SGA-Q comes from)::

    x ──► g_a ──► y₀ ──► Adam on λ·D(x, g_s(ŷ)) + R(ŷ, ẑ),  ŷ = relaxed round(y) ──► y* ──► coder
                          ▲                    (z = h_a(y), ẑ likewise)             │
                          └───────────────────────── y ◄────────────────────────────┘

Rounding's zero gradient is relaxed with a quantizer from `quantizers` (SGA-Q with its
temperature annealed towards hard rounding, by default) around where the coder rounds
(`quantizers.relaxed`), in the model's training forward pass. The latent kept is the one
whose *hard-rounded* loss, the rate and distortion of what the coder transmits, is lowest
among the checked iterates and the analysis transform's own: refinement never makes the
model's own estimate worse. Only the encoder's choice changes: the file, its format and the
decoder are the same, and the decoded image is still the hard-quantized forward pass of the
latent the file carries.

The search runs the transforms in bfloat16 where the CPU has it natively (`precision`): on
AMX, Cheng20's search is 2.0× faster and Ballé18's 1.6×, their gains the same to 0.01%
(`make bench`, refine). The hard-rounded losses that choose among the iterates stay the float32
model's.
"""

import math

import tensorflow as tf

from tfquant import models, quantizers
from tfquant.models.graphs import as_rgb
from tfquant.train import strategy

DEFAULT_STEPS = 100
LEARNING_RATE = 0.005
TEMPERATURE = (0.5, 0.05)  # SGA-Q's τ: from its usual start, annealed to near-hard rounding
CHECKS = 10  # how many times a search compares its hard-rounded loss with the best so far
# The search holds every activation of the forward pass and its gradient: 1.4 KB per pixel
# for the zoo's Ballé18, 2.1 KB for its Cheng20 (peak RSS over a Kodak image's), so 4
# Mpixels take ~9 GB.
MAX_PIXELS = 1 << 22


def sga_relaxation(steps):
  """SGA-Q annealed from τ = 0.5 to 0.05 over `steps`."""
  start, end = TEMPERATURE
  return quantizers.get("sga", tau_max=start, tau_min=end,
                        decay=math.log(start / end) / max(steps - 1, 1))


def search_twin(model, precision):
  """`model` computing its transforms in `precision`, with its current weights, for the
  search (built once per model and precision, its weights copied at every call); `model`
  itself for float32."""
  if precision == "float32":
    return model
  twins = model.__dict__.setdefault("_search_twins", {})  # not a tracked sublayer
  if precision not in twins:
    twins[precision] = models.create(model.arch, precision, **model.get_config())
  models.copy_shared_variables(model, twins[precision])
  return twins[precision]


def refined_latent(model, image, steps=DEFAULT_STEPS, lmbda=None, relaxation=None,
                   learning_rate=LEARNING_RATE, precision="auto"):
  """The coded latent [1, h, w, C] to transmit for the H×W×3 uint8 `image` (a variable-rate
  model's at `lmbda`, as the file will record it), after `steps` of search; and
  {"before", "after"}: the hard-rounded loss λ·D + R of the analysis transform's latent and
  of the one returned. `relaxation`: a quantizer (name, spec or layer) without weights;
  default `sga_relaxation(steps)`. `precision`: the search's transforms' (`models.create`;
  "auto": mixed_bfloat16 where native); the hard-rounded losses that choose the latent are
  the model's own, float32."""
  steps = int(steps)
  if steps < 0:
    raise ValueError(f"Refinement takes a number of steps ≥ 0, got {steps}.")
  image = as_rgb(tf.convert_to_tensor(image))
  height, width = int(image.shape[0]), int(image.shape[1])
  if height * width > MAX_PIXELS:
    raise ValueError(f"Refinement holds the whole {width}x{height} image's activations and "
                     f"their gradients: at most {MAX_PIXELS} pixels; code it without refining "
                     "or in smaller pieces.")
  x = tf.cast(image, tf.float32)[None] / 255.0
  rate = {}
  if model.variable_rate:
    coded = model.quantization_step.lmbda(model.rate_code(lmbda))
    rate = {"lmbda": tf.reshape(coded, [1])}
  latent = tf.cast(model.coded_latent(x, rate.get("lmbda")), tf.float32)

  @tf.function(autograph=False)
  def hard_loss(y):
    return model.latent_objective(x, y, training=False, **rate)["loss"]

  best, best_loss = latent, hard_loss(latent)
  before = float(best_loss)
  if steps == 0:
    return best, {"before": before, "after": before}
  searcher = search_twin(model, strategy.resolve_precision(precision))
  variable = tf.Variable(latent)
  optimizer = tf.keras.optimizers.Adam(learning_rate)
  optimizer.build([variable])
  relaxation = sga_relaxation(steps) if relaxation is None else relaxation
  with quantizers.relaxed(relaxation):

    @tf.function(autograph=False)
    def search_step(step):
      with tf.GradientTape() as tape:
        loss = searcher.latent_objective(x, variable, training=True, step=step,
                                         **rate)["loss"]
      optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])

    every = max(steps // CHECKS, 1)
    for step in range(steps):
      search_step(tf.constant(step, tf.int64))
      if (step + 1) % every == 0 or step + 1 == steps:
        loss = hard_loss(variable.read_value())
        if loss < best_loss:
          best, best_loss = tf.identity(variable), loss
  return best, {"before": before, "after": float(best_loss)}
