"""Training speed on the CPU: balle2018 (N=128, M=192), batch 8 of 256×256, one device.

Compared in the same process: the plain TFC reference (benchmarks/tfc_reference.py, additive
noise) and tfquant's balle2018 with each quantizer used for both the entropy model and the
decoder. Measurements are interleaved (round-robin over configurations) and the median step
time is reported; ratios are against the TFC reference and against tfquant's AUN-Q. Goals:
tfquant AUN-Q ≥ 1.0× the reference's steps/s; every quantizer ≤ 1.10× AUN-Q's step time.

The distance to the machine's limit: the step's floating-point operations (TF's profiler over
the traced step: convolutions forward and both gradients, GDN's matrix products) over its
median time, against this CPU's peak, measured in the same run as the best of a large
float32 convolution (the model's heaviest layer, 5×5 128→128 at 128², batch 8) and a
4096³ matrix product.
"""

import resource
import statistics
import time

import numpy as np
import tensorflow as tf

from benchmarks import common
from benchmarks.tfc_reference import ReferenceBalle2018
from tfquant import models, quantizers, train

FILTERS = dict(num_filters=128, latent_filters=192)
BATCH, PATCH = 8, 256
ROUNDS, STEPS_PER_ROUND = 4, 3


def _steps():
  """{name: compiled train step}, the reference first."""
  steps = {}
  reference = ReferenceBalle2018(**FILTERS)
  reference(tf.zeros([1, 64, 64, 3]))
  steps["tfc_reference"] = train.make_train_step(reference, tf.keras.optimizers.Adam(1e-4))
  for name in quantizers.names():
    model = models.create("balle2018", ent_quant=name, dec_quant=name, **FILTERS)
    steps[name] = train.make_train_step(model, tf.keras.optimizers.Adam(1e-4))
  return steps


def step_flops(step):
  graph = step.get_concrete_function(tf.TensorSpec([BATCH, PATCH, PATCH, 3])).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options["output"] = "none"
  return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def peak_gflops(repeats=5):
  """The best GFLOP/s of a large convolution and of a large matrix product."""
  x, kernel = tf.random.normal([BATCH, 128, 128, 128]), tf.random.normal([5, 5, 128, 128])
  a = tf.random.normal([4096, 4096])
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


def run():
  tf.random.set_seed(0)
  batch = tf.constant(np.random.RandomState(0).uniform(size=(BATCH, PATCH, PATCH, 3)),
                      tf.float32)
  steps = _steps()
  peaks = [peak_gflops()]
  for step in steps.values():  # trace and warm up
    step(batch)
  times = {name: [] for name in steps}
  for _ in range(ROUNDS):
    for name, step in steps.items():
      start = time.perf_counter()
      for _ in range(STEPS_PER_ROUND):
        float(step(batch)["loss"])
      times[name].append((time.perf_counter() - start) / STEPS_PER_ROUND)
  peaks.append(peak_gflops())
  median = {name: statistics.median(t) for name, t in times.items()}
  flops = step_flops(steps["noise"])
  peak = max(max(p.values()) for p in peaks)
  return {
      "step_gflop": flops / 1e9, "peak_gflops": peak, "peaks_measured": peaks,
      "achieved_gflops": flops / 1e9 / median["noise"],
      "fraction_of_peak": flops / 1e9 / median["noise"] / peak,
      "machine": common.machine(), "filters": FILTERS, "batch": BATCH, "patch": PATCH,
      "rounds": ROUNDS, "steps_per_round": STEPS_PER_ROUND,
      "seconds_per_step": median,
      "steps_per_second": {name: 1.0 / t for name, t in median.items()},
      "speed_vs_reference": median["tfc_reference"] / median["noise"],
      "step_time_vs_noise": {name: t / median["noise"] for name, t in median.items()},
      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }


def table(result):
  lines = [
      f"{result['machine']['cpus']} CPUs, TF {result['machine']['tensorflow']}, "
      f"{result['machine']['date']}; median of {result['rounds']} interleaved rounds of "
      f"{result['steps_per_round']} steps. tfquant AUN-Q vs TFC reference: "
      f"**{result['speed_vs_reference']:.3f}×** the reference's steps/s (goal ≥ 1.0). "
      f"Peak RSS of the whole run: {result['peak_rss_mb']:.0f} MB.", "",
      *([f"tfquant AUN-Q's step is {result['step_gflop']:.1f} GFLOP: "
         f"{result['achieved_gflops']:.0f} GFLOP/s against a measured peak of "
         f"{result['peak_gflops']:.0f} GFLOP/s (best of a large conv2d and matmul, before and "
         f"after the steps): **{100 * result['fraction_of_peak']:.0f}% of peak**.", ""]
        if "step_gflop" in result else []),
      "| configuration | s/step | steps/s | step time vs tfquant AUN-Q (goal ≤ 1.10) |",
      "|---|---|---|---|",
  ]
  for name, seconds in result["seconds_per_step"].items():
    lines.append(f"| {name} | {seconds:.3f} | {1 / seconds:.3f} | "
                 f"{result['step_time_vs_noise'][name]:.3f} |")
  return "\n".join(lines)
