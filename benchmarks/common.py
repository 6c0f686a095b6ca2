"""Shared by the benchmarks: data locations, quick training, the results files."""

import json
import os
import platform
import time

import tensorflow as tf

from tfquant import data, models, train

RESULTS_DIR = os.path.join(os.path.dirname(__file__), "results")


def kodak_paths():
  """The 24 Kodak images where ../shared has them, else the embedded samples (and says so)."""
  directory = data.shared_dir("kodak")
  return data.image_paths(directory or data.sample_dir()), "kodak" if directory else "samples"


def training_paths():
  return data.image_paths(data.shared_dir("photos") or data.sample_dir())


def quick_train(model, steps, patch_size=128, batch_size=8, learning_rate=1e-3):
  """A short training run so that latents and priors are roughly matched."""
  tf.random.set_seed(0)
  dataset = data.patch_dataset(training_paths(), patch_size, batch_size, seed=0)
  return train.fit(model, dataset, steps, learning_rate=learning_rate)


def zoo_model(spec):
  """A zoo model by name, or "NAME:CONTEXT" for its weights (tables included) coded in
  another context mode (the masked convolution's kernel read through the other mask)."""
  name, _, context = spec.partition(":")
  return models.load("zoo:" + name, **({"context": context} if context else {}))


def timed(function, *args, **kwargs):
  """(function's result, seconds it took)."""
  start = time.perf_counter()
  result = function(*args, **kwargs)
  return result, time.perf_counter() - start


def machine():
  return {"cpus": os.cpu_count(), "python": platform.python_version(),
          "tensorflow": tf.__version__, "date": time.strftime("%Y-%m-%d")}


def write_result(name, result):
  os.makedirs(RESULTS_DIR, exist_ok=True)
  with open(os.path.join(RESULTS_DIR, f"{name}.json"), "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)


def read_results():
  results = {}
  if os.path.isdir(RESULTS_DIR):
    for filename in sorted(os.listdir(RESULTS_DIR)):
      if filename.endswith(".json"):
        with open(os.path.join(RESULTS_DIR, filename)) as f:
          results[filename[:-5]] = json.load(f)
  return results
