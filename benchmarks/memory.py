"""Coding memory: peak resident memory and time of coding one large photo, with the transforms
in tiles (`tfquant.models.tiles`: 64² latents, 1024² pixels, with their margins) and whole
(one tile), side by side.

A photo of ../shared/data/photos, resized to 3000×2000 and to 4096×4096 (the default pixel
limit before tiling), is coded by a zoo model of each family with the default coder. Each
encode and each decode runs in its own process (load the model, code once: the first call
traces the graph, as `tfquant codec` does), so each peak RSS is that process's alone. Goals:
decode 3000×2000 in ≤ 1.5 GB and 4096² in ≤ 2 GB (untiled: 4.6 GB and 10.8 GB for a
Minnen18); tiling may not change a bit (`same`: the tiled encoder writes the whole one's file,
and the tiled decoder gives its pixels).
"""

import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks import common
from tfquant import coding, data, models
from tfquant.models import tiles

MODELS = ("balle2018-mse-0.01", "cheng2020-mse-0.015")
SIZES = ((2000, 3000), (4096, 4096))
UNTILED_SIZES = ((2000, 3000),)  # whole transforms at 4096²: over 5 GB, not run
TIMEOUT_SECONDS = 1200


def photo(height, width):
  from PIL import Image
  path = data.image_paths(data.shared_dir("photos") or data.sample_dir())[0]
  with Image.open(path) as image:
    return np.asarray(image.convert("RGB").resize((width, height), Image.LANCZOS))


def in_process(kind, name, height, width, path, tiled):
  """In this process: encode the photo to `path`, or decode `path`; peak RSS and seconds."""
  if not tiled:
    tiles.TILE_LATENTS = 1 << 20
  model = models.load(f"zoo:{name}")
  start = time.perf_counter()
  if kind == "encode":
    payload = coding.encode(model, photo(height, width))
    with open(path, "wb") as f:
      f.write(payload)
  else:
    with open(path, "rb") as f:
      payload = np.asarray(coding.decode(model, f.read())).tobytes()
  digest = hashlib.sha256(payload).hexdigest()
  return {"seconds": time.perf_counter() - start, "sha256": digest,
          "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def measure(*args):
  command = [sys.executable, "-m", "benchmarks.memory", *map(str, args)]
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                          check=True)
  except subprocess.TimeoutExpired:
    return {"seconds": float(TIMEOUT_SECONDS), "sha256": None, "peak_rss_gb": None}
  return json.loads(done.stdout.strip().splitlines()[-1])


def run():
  results = {}
  with tempfile.TemporaryDirectory() as scratch:
    for name in MODELS:
      for height, width in SIZES:
        path = os.path.join(scratch, f"{name}-{height}x{width}.tfq")
        case = {"encode_tiled": measure("encode", name, height, width, path, 1)}
        case["bytes"] = os.path.getsize(path)
        case["decode_tiled"] = measure("decode", name, height, width, path, 1)
        if (height, width) in UNTILED_SIZES:
          case["decode_whole"] = measure("decode", name, height, width, path, 0)
          case["encode_whole"] = measure("encode", name, height, width, path + ".whole", 0)
        results[f"{name} {width}×{height}"] = case
  return {"tile_latents": tiles.TILE_LATENTS, "results": results, "machine": common.machine()}


def table(result):
  def cell(case):
    if case is None:
      return "not run"
    return f"{case['seconds']:.1f} s, {case['peak_rss_gb'] or float('nan'):.2f} GB"

  def same(case, kind):
    if f"{kind}_whole" not in case:
      return "—"
    return "yes" if case[f"{kind}_whole"]["sha256"] == case[f"{kind}_tiled"]["sha256"] else (
        "**no**")

  lines = ["| model, image | encode: tiled | whole | same | decode: tiled | whole | same |",
           "|---|---|---|---|---|---|---|"]
  for key, case in result["results"].items():
    lines.append(" | ".join([
        f"| {key}", cell(case["encode_tiled"]), cell(case.get("encode_whole")),
        same(case, "encode"), cell(case["decode_tiled"]), cell(case.get("decode_whole")),
        same(case, "decode")]) + " |")
  return "\n".join(lines)


if __name__ == "__main__":
  kind, name, height, width, path, tiled = sys.argv[1:]
  print(json.dumps(in_process(kind, name, int(height), int(width), path, tiled == "1")))
