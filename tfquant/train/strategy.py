"""Where training runs: the tf.distribute strategy, which worker is chief, whether bfloat16
is native here (and so what --precision=auto means), and splitting the CPU into devices for
tests."""

import functools
import os

import tensorflow as tf


@functools.lru_cache(maxsize=None)
def make_strategy(name):
  """The tf.distribute strategy by name; one per process (collectives allow no second one).

  For multi_worker, call this before any other TensorFlow op runs.
  """
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    return tf.distribute.MirroredStrategy(devices)
  if name == "multi_worker":
    if "TF_CONFIG" not in os.environ:
      raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable.")
    return tf.distribute.MultiWorkerMirroredStrategy()
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, tf.errors.NotFoundError) as error:
    raise RuntimeError(f"--strategy=tpu: no TPU is reachable ({error}).") from None
  return tf.distribute.TPUStrategy(resolver)


def is_chief(strategy):
  """Whether this process writes the run directory (the only one, or worker 0 / chief)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  return resolver.task_type == "chief" or (resolver.task_type == "worker" and
                                           resolver.task_id == 0)


def native_bfloat16():
  """Whether bfloat16 matrix arithmetic runs natively here: a GPU of compute capability 8 or
  more, or (Linux) a CPU whose flags list AVX-512 BF16 or AMX (x86) or BF16 (Arm)."""
  for gpu in tf.config.list_physical_devices("GPU"):
    if tf.config.experimental.get_device_details(gpu).get("compute_capability", (0,))[0] >= 8:
      return True
  try:
    with open("/proc/cpuinfo") as f:
      flags = set(f.read().split())
  except OSError:
    return False
  return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def resolve_precision(precision):
  """`precision`, with "auto" made mixed_bfloat16 where bfloat16 is native and float32
  elsewhere: emulated, bfloat16 makes a step several times slower than float32 (~10× for a
  Cheng20 step on an AVX2 CPU), and both train the same float32 variables."""
  if precision != "auto":
    return precision
  return "mixed_bfloat16" if native_bfloat16() else "float32"


def split_cpu(num_devices):
  """Splits the host CPU into logical devices (to exercise mirrored training without GPUs).

  Must run before TensorFlow initializes its devices.
  """
  cpu = tf.config.list_physical_devices("CPU")[0]
  tf.config.set_logical_device_configuration(
      cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
