"""tfquant's side of `benchmarks.peers` (and the TFC reference's training step): one task,
timed after one warm-up item, printed as one JSON line.

  python -m benchmarks.peers_tfquant train|train_bfloat16|train_tfc_reference STEPS
  python -m benchmarks.peers_tfquant CODING_TASK IMAGE [IMAGE ...]
"""

import json
import resource
import sys

import numpy as np
import tensorflow as tf

from benchmarks import common
from benchmarks.tfc_reference import ReferenceBalle2018
from tfquant import data, models, train

CODING = {
    "hyperprior": dict(arch="balle2018", num_filters=128, latent_filters=192),
    "serial_minnen2018": dict(arch="minnen2018", num_filters=192, latent_filters=320,
                              context="serial"),
    # CompressAI's Cheng2020Anchor: no attention blocks, one Gaussian (ours defaults to K=3).
    "serial_cheng2020": dict(arch="cheng2020", num_filters=128, attention=False, components=1,
                             context="serial"),
    "checkerboard_cheng2020": dict(arch="cheng2020", num_filters=128, attention=False,
                                   components=1, context="checkerboard"),
}
BATCH, PATCH = 8, 256


def coding(task, paths):
  model = models.create(**CODING[task])
  model.finalize()
  encode, decode = [], []
  for index, path in enumerate(paths):
    pieces, encode_seconds = common.timed(model.compress, data.read_image(path))
    _, decode_seconds = common.timed(model.decompress, *pieces)
    if index:  # the first is the warm-up
      encode.append(encode_seconds)
      decode.append(decode_seconds)
  return {"encode": encode, "decode": decode}


def training(task, steps):
  tf.random.set_seed(0)
  filters = dict(num_filters=128, latent_filters=192)
  if task == "train_tfc_reference":
    model = ReferenceBalle2018(**filters)
    model(tf.zeros([1, 64, 64, 3]))
  else:
    precision = "mixed_bfloat16" if task == "train_bfloat16" else "float32"
    model = models.create("balle2018", precision, **filters)
  step = train.make_train_step(model, tf.keras.optimizers.Adam(1e-4))
  x = tf.constant(np.random.RandomState(0).uniform(size=(BATCH, PATCH, PATCH, 3)), tf.float32)
  times = []
  for index in range(steps + 1):
    _, seconds = common.timed(lambda: float(step(x)["loss"]))
    if index:  # the first traces
      times.append(seconds)
  return {"step": times}


def main(argv):
  task = argv[1]
  result = (training(task, int(argv[2])) if task.startswith("train") else
            coding(task, argv[2:]))
  result.update(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                versions=f"tensorflow {tf.__version__}")
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv)
