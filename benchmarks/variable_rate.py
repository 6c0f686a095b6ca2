"""What a variable-rate model costs to code, beside a fixed-rate model of the same size.

The Ballé18 zoo entry balle2018-mse-0.005 and the same weights in a variable-rate model over
λ ∈ [0.0025, 0.01], coded at the range's geometric middle (0.005), where its initial
quantization step is 1: the two code the same symbols, so what differs is only the rate
input's work (Δ(λ), y/Δ, ŷ·Δ) and the header's rate code. Every Kodak image with the
pure-TF coder, interleaved image by image (each path traced before timing). Goals: header
≤ 3 bytes more; encode and decode time within 5%.
"""

import math

import numpy as np

from benchmarks import common
from tfquant import coding, data, models

FIXED = "balle2018-mse-0.005"
RANGE = (0.0025, 0.01)
CODER = "tf"


def variable_rate_twin():
  fixed = common.zoo_model(FIXED)
  twin = models.create(fixed.arch, **dict(fixed.get_config(), lmbda=list(RANGE)))
  models.read_weights(twin, "zoo:" + FIXED)
  twin.finalize()
  return fixed, twin


def run():
  fixed, twin = variable_rate_twin()
  lmbda = math.sqrt(RANGE[0] * RANGE[1])
  paths, source = common.kodak_paths()
  totals = {name: np.zeros(4) for name in ("fixed", "variable")}  # bytes, overhead, enc, dec
  for index, path in enumerate(paths):
    image = data.read_image(path)
    for name, model, rate in (("fixed", fixed, None), ("variable", twin, lmbda)):
      if index == 0:  # traces the graphs
        coding.decode(model, coding.encode(model, image, coder=CODER, lmbda=rate))
      payload, encode_seconds = common.timed(coding.encode, model, image, coder=CODER,
                                             lmbda=rate)
      _, decode_seconds = common.timed(coding.decode, model, payload)
      totals[name] += (len(payload), coding.container.overhead(payload), encode_seconds,
                       decode_seconds)
  fixed_totals, variable_totals = totals["fixed"], totals["variable"]
  return {"images": source, "coder": CODER, "count": len(paths),
          "bytes": [int(variable_totals[0]), int(fixed_totals[0])],
          "header_bytes_more": (variable_totals[1] - fixed_totals[1]) / len(paths),
          "encode_ratio": variable_totals[2] / fixed_totals[2],
          "decode_ratio": variable_totals[3] / fixed_totals[3],
          "machine": common.machine()}


def table(result):
  return "\n".join([
      "| images | bytes variable / fixed | header bytes more | encode ratio | decode ratio |",
      "|---|---|---|---|---|",
      f"| {result['count']} ({result['images']}) | {result['bytes'][0]} / {result['bytes'][1]} "
      f"| {result['header_bytes_more']:.1f} | {result['encode_ratio']:.3f} | "
      f"{result['decode_ratio']:.3f} |"])
