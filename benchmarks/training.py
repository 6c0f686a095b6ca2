"""Training speed on the CPU, batch 8 of 256×256, one device: float32 against bfloat16, and
against each precision's own peak.

Compared in the same process: the plain TFC reference (benchmarks/tfc_reference.py, additive
noise), tfquant's balle2018 (N=128, M=192) with each quantizer used for both the entropy model
and the decoder, and the three architectures' AUN-Q steps (Ballé18 N=128/M=192, Minnen18
N=192/M=320 and Cheng20 N=128, both checkerboard) three ways: float32 with TFC's own
convolution ops (how they trained before their layers took oneDNN's paths), float32, and
under `mixed_bfloat16`. Measurements are interleaved (round-robin over configurations) and
the median step time is reported. Goals: tfquant AUN-Q ≥ 1.0× the reference's steps/s; every
quantizer ≤ 1.10× AUN-Q's step time; bfloat16 ≥ 3× faster than TFC's ops for Ballé18 and
≥ 2.5× for the others (set on a CPU with AMX, whose bfloat16 convolutions are 7× float32's; a
CPU with only AVX-512 BF16 peaks at about 2×, which bounds what a step can gain there).

The distance to the machine's limit: a step's floating-point operations (TF's profiler over
the traced float32 step: convolutions forward and both gradients, GDN's matrix products) over
its median time, against the peak of its own precision, measured in the same run as the best
of a large convolution (the heaviest layer's shape, 5×5 128→128 at 128², batch 8) and a
4096³ matrix product, before and after the steps.
"""

import functools
import os
import resource
import statistics
import time

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc

from benchmarks import common
from benchmarks.tfc_reference import ReferenceBalle2018
from tfquant import models, quantizers, train
from tfquant.models import layers

FILTERS = dict(num_filters=128, latent_filters=192)
ARCHITECTURES = {"balle2018": FILTERS,
                 "minnen2018": dict(num_filters=192, latent_filters=320, context="checkerboard"),
                 "cheng2020": dict(num_filters=128, context="checkerboard")}
PRECISIONS = ("float32", "mixed_bfloat16")
TFC_OPS = "float32, TFC's ops"  # how every architecture trained before this benchmark's goals
BATCH, PATCH = 8, 256
ROUNDS, STEPS_PER_ROUND = int(os.environ.get("BENCH_ROUNDS", 4)), 3


def _with_tfc_ops(model):
  """`model` as it trained before its layers took oneDNN's paths: every SignalConv2D runs
  TFC's own call (EXPLICIT padding, FFT kernels) in training too."""
  for layer in model._flatten_layers():  # pylint: disable=protected-access
    if isinstance(layer, layers.SignalConv2D):
      layer.call = functools.partial(_tfc_call, layer)
  return model


def _tfc_call(layer, inputs, training=None):
  del training
  return tfc.SignalConv2D.call(layer, inputs)


def _steps():
  """{name: compiled train step}: the reference, Ballé18 per quantizer (float32), then every
  architecture with TFC's ops and in bfloat16 (and in float32 where no quantizer row has
  it)."""
  steps = {}
  reference = ReferenceBalle2018(**FILTERS)
  reference(tf.zeros([1, 64, 64, 3]))
  steps["tfc_reference"] = train.make_train_step(reference, tf.keras.optimizers.Adam(1e-4))
  for name in quantizers.names():
    model = models.create("balle2018", ent_quant=name, dec_quant=name, **FILTERS)
    steps[name] = train.make_train_step(model, tf.keras.optimizers.Adam(1e-4))
  for arch, options in ARCHITECTURES.items():
    for precision in PRECISIONS + (TFC_OPS,):
      if (arch, precision) != ("balle2018", "float32"):  # that is the "noise" row
        model = (_with_tfc_ops(models.create(arch, **options)) if precision == TFC_OPS
                 else models.create(arch, precision, **options))
        assert model.analysis.compute_dtype == ("bfloat16" if "bfloat16" in precision
                                                else "float32")
        steps[f"{arch} {precision}"] = train.make_train_step(
            model, tf.keras.optimizers.Adam(1e-4))
  return steps


def _step_name(arch, precision):
  return "noise" if (arch, precision) == ("balle2018", "float32") else f"{arch} {precision}"


def step_flops(step):
  graph = step.get_concrete_function(tf.TensorSpec([BATCH, PATCH, PATCH, 3])).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def peak_gflops(dtype, repeats=5):
  """The best GFLOP/s of a large convolution and of a large matrix product in `dtype`."""
  x = tf.cast(tf.random.normal([BATCH, 128, 128, 128]), dtype)
  kernel = tf.cast(tf.random.normal([5, 5, 128, 128]), dtype)
  a = tf.cast(tf.random.normal([4096, 4096]), dtype)
  kernels = {"conv2d": (tf.function(lambda: tf.nn.conv2d(x, kernel, 2, "SAME")),
                        2 * BATCH * 64 * 64 * 128 * 128 * 25),
             "matmul": (tf.function(lambda: tf.matmul(a, a)), 2 * 4096 ** 3)}
  best = {}
  for name, (function, flops) in kernels.items():
    function()
    seconds = []
    for _ in range(repeats):
      start = time.perf_counter()
      function().numpy()
      seconds.append(time.perf_counter() - start)
    best[name] = flops / min(seconds) / 1e9
  return best


def _peaks():
  return {precision: peak_gflops(tf.bfloat16 if "bfloat16" in precision else tf.float32)
          for precision in PRECISIONS}


def run():
  tf.random.set_seed(0)
  batch = tf.constant(np.random.RandomState(0).uniform(size=(BATCH, PATCH, PATCH, 3)),
                      tf.float32)
  steps = _steps()
  peaks = [_peaks()]
  for step in steps.values():  # trace and warm up
    step(batch)
  times = {name: [] for name in steps}
  for _ in range(ROUNDS):
    for name, step in steps.items():
      start = time.perf_counter()
      for _ in range(STEPS_PER_ROUND):
        float(step(batch)["loss"])
      times[name].append((time.perf_counter() - start) / STEPS_PER_ROUND)
  peaks.append(_peaks())
  median = {name: statistics.median(t) for name, t in times.items()}
  peak = {p: max(max(measured[p].values()) for measured in peaks) for p in PRECISIONS}
  architectures = {}
  for arch in ARCHITECTURES:
    gflop = step_flops(steps[_step_name(arch, "float32")]) / 1e9
    rows = {}
    for precision in PRECISIONS:
      seconds = median[_step_name(arch, precision)]
      rows[precision] = {"seconds_per_step": seconds, "achieved_gflops": gflop / seconds,
                         "fraction_of_peak": gflop / seconds / peak[precision]}
    architectures[arch] = {
        "options": ARCHITECTURES[arch], "step_gflop": gflop, "precisions": rows,
        "tfc_ops_seconds_per_step": median[f"{arch} {TFC_OPS}"],
        "bfloat16_vs_tfc_ops": median[f"{arch} {TFC_OPS}"] / median[
            _step_name(arch, "mixed_bfloat16")],
        "float32_vs_tfc_ops": median[f"{arch} {TFC_OPS}"] / median[
            _step_name(arch, "float32")]}
  return {
      "peak_gflops": peak, "peaks_measured": peaks, "architectures": architectures,
      "machine": common.machine(), "filters": FILTERS, "batch": BATCH, "patch": PATCH,
      "rounds": ROUNDS, "steps_per_round": STEPS_PER_ROUND,
      "seconds_per_step": median,
      "speed_vs_reference": median["tfc_reference"] / median["noise"],
      "step_time_vs_noise": {name: median[name] / median["noise"]
                             for name in ["tfc_reference"] + quantizers.names()},
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }


def table(result):
  peak = result["peak_gflops"]
  lines = [
      f"{result['machine']['cpus']} CPUs, TF {result['machine']['tensorflow']}, "
      f"{result['machine']['date']}; median of {result['rounds']} interleaved rounds of "
      f"{result['steps_per_round']} steps. tfquant AUN-Q (float32) vs TFC reference: "
      f"**{result['speed_vs_reference']:.3f}×** the reference's steps/s (goal ≥ 1.0). "
      f"Peak RSS of the whole run: {result['peak_rss_mb']:.0f} MB.", "",
      "Measured peaks (best of a conv2d and a matmul, before and after the steps): "
      + ", ".join(f"{p} {g:.0f} GFLOP/s" for p, g in peak.items()) +
      f" (bfloat16 ÷ float32: {peak['mixed_bfloat16'] / peak['float32']:.2f}×).", "",
      "Speed-ups are against the same architecture's float32 step with TFC's ops (how it "
      "trained before; goals ≥ 3× for Ballé18, ≥ 2.5× for the others).", "",
      "| architecture | GFLOP/step | float32 TFC's ops s/step | float32 s/step | GFLOP/s | "
      "of float32 peak | bfloat16 s/step | GFLOP/s | of bfloat16 peak | float32 speed-up | "
      "bfloat16 speed-up |",
      "|---|---|---|---|---|---|---|---|---|---|---|",
  ]
  for arch, a in result["architectures"].items():
    f32, bf16 = a["precisions"]["float32"], a["precisions"]["mixed_bfloat16"]
    lines.append(
        f"| {arch} | {a['step_gflop']:.0f} | {a['tfc_ops_seconds_per_step']:.2f} | "
        f"{f32['seconds_per_step']:.2f} | "
        f"{f32['achieved_gflops']:.0f} | {100 * f32['fraction_of_peak']:.0f}% | "
        f"{bf16['seconds_per_step']:.2f} | {bf16['achieved_gflops']:.0f} | "
        f"{100 * bf16['fraction_of_peak']:.0f}% | {a['float32_vs_tfc_ops']:.2f}× | "
        f"**{a['bfloat16_vs_tfc_ops']:.2f}×** |")
  lines += ["", "Ballé18 per quantizer (float32):", "",
            "| configuration | s/step | steps/s | step time vs tfquant AUN-Q (goal ≤ 1.10) |",
            "|---|---|---|---|"]
  for name, ratio in result["step_time_vs_noise"].items():
    seconds = result["seconds_per_step"][name]
    lines.append(f"| {name} | {seconds:.3f} | {1 / seconds:.3f} | {ratio:.3f} |")
  return "\n".join(lines)
