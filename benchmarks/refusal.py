"""Refusing forged files: what a header forged to a larger image costs the decoder.

A zoo model of each family codes Kodak's first image with each coder; the file is decoded as
written, then with its header forged to 8192×8192 (the default 2²⁶-pixel limit, every
container checksum recomputed, as anyone can). Each case runs in its own process (encode,
one warm-up decode of the valid file, the decode timed), so its peak resident memory is that
process's: a refusal that allocated more than a valid decode would show. Goal: a forged
file refused in seconds, within 2× the valid file's decoding time and memory (before the v3
container: 58 s – 3 min 52 s and 10.8 GB for a Minnen18; with TFC's coder a forged z could
hang the decoder for good).
"""

import dataclasses
import json
import resource
import subprocess
import sys
import time

from benchmarks import common
from tfquant import coding, data, models
from tfquant.coding import container

MODELS = ("balle2017-mse-0.01", "balle2018-mse-0.01", "cheng2020-mse-0.015")
FORGED_SHAPE = (8192, 8192)
TIMEOUT_SECONDS = 600


def decode_once(name, coder, forged):
  """In this process: encode Kodak's first image, decode it once (tracing), then time the
  decode of the valid or forged file. Returns a dict."""
  model = models.load(f"zoo:{name}")
  image = data.read_image(common.kodak_paths()[0][0])
  payload = coding.encode(model, image, coder=coder)
  coding.decode(model, payload)
  if forged:
    payload = container.pack(dataclasses.replace(container.unpack(payload),
                                                 image_shape=FORGED_SHAPE))
  start = time.perf_counter()
  try:
    coding.decode(model, payload)
    outcome = "decoded"
  except coding.BitstreamError as error:
    outcome = f"refused: {error}"
  return {"seconds": time.perf_counter() - start, "outcome": outcome,
          "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def measure(name, coder, forged):
  command = [sys.executable, "-m", "benchmarks.refusal", name, coder, str(int(forged))]
  try:
    done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                          check=True)
  except subprocess.TimeoutExpired:
    return {"seconds": float(TIMEOUT_SECONDS), "outcome": "timed out", "peak_rss_gb": None}
  return json.loads(done.stdout.strip().splitlines()[-1])


def run():
  results = {}
  for name in MODELS:
    for coder in coding.coders.NAMES:
      results[f"{name} {coder}"] = {kind: measure(name, coder, kind == "forged")
                                    for kind in ("valid", "forged")}
  return {"forged_shape": list(FORGED_SHAPE), "results": results, "machine": common.machine()}


def table(result):
  height, width = result["forged_shape"]
  lines = [f"| model, coder | valid: s, GB | forged {height}×{width}: s, GB | outcome |",
           "|---|---|---|---|"]
  for key, cases in result["results"].items():
    valid, forged = cases["valid"], cases["forged"]
    cells = [f"{case['seconds']:.2f} s, {case['peak_rss_gb'] or float('nan'):.2f} GB"
             for case in (valid, forged)]
    lines.append(f"| {key} | {cells[0]} | {cells[1]} | {forged['outcome'][:60]} |")
  return "\n".join(lines)


if __name__ == "__main__":
  print(json.dumps(decode_once(sys.argv[1], sys.argv[2], sys.argv[3] == "1")))
