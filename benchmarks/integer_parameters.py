"""Integer entropy parameters against float ones: what files that decode on any machine cost.

Zoo models of the families whose tables a network chooses (Ballé18; Cheng20, checkerboard as
shipped, and the same weights with the serial context) code every Kodak image with TFC's
coder, with integer and with float entropy parameters, interleaved image by image (each path
traced before timing). Both paths transmit the same symbols (these models round around
integers or zero), so the reconstructions are identical and the rate ratio is the BD-rate
cost. Goals: rate ≤ 1.01×, encode and decode time ≤ 1.2× the float path's.

A mixture's probabilities under integer parameters come from `portable_math`: an erfc of some
twenty elementwise IEEE operations and a table lookup where the float path calls one fused
kernel (fifty operations, a series and an exp, until 2026-12-05: 1.44×/1.49× serially). That
is most of the Cheng20 rows' time ratios, and the serial context's most of all: each of its
positions bisects a few hundred values, so the number of operations, not their size, sets
its time; there `coding.bisection` prepares two halvings at once (1.27×/1.48× before).
"""

import numpy as np

from benchmarks import common
from tfquant import coding, data

MODELS = ("balle2018-mse-0.01", "cheng2020-mse-0.015:checkerboard",
          "cheng2020-mse-0.015:serial")
CODER = "tfc"
SERIAL_IMAGES = 4  # the serial context visits every position: a few images say enough


def measure(spec, paths):
  model = common.zoo_model(spec)
  if spec.endswith(":serial"):
    paths = paths[:SERIAL_IMAGES]
  totals = {True: np.zeros(3), False: np.zeros(3)}  # bytes, encode s, decode s
  for index, path in enumerate(paths):
    image = data.read_image(path)
    for integer in (True, False):
      if index == 0:  # traces the graphs
        coding.decode(model, coding.encode(model, image, coder=CODER, integer=integer))
      payload, encode_seconds = common.timed(coding.encode, model, image, coder=CODER,
                                             integer=integer)
      _, decode_seconds = common.timed(coding.decode, model, payload)
      totals[integer] += (len(payload), encode_seconds, decode_seconds)
  integer, floating = totals[True], totals[False]
  return {"images": len(paths), "bytes": [int(integer[0]), int(floating[0])],
          "rate_ratio": integer[0] / floating[0],
          "encode_ratio": integer[1] / floating[1], "decode_ratio": integer[2] / floating[2],
          "encode_seconds": [integer[1], floating[1]],
          "decode_seconds": [integer[2], floating[2]]}


def run():
  paths, source = common.kodak_paths()
  return {"images": source, "coder": CODER,
          "results": {spec: measure(spec, paths) for spec in MODELS},
          "machine": common.machine()}


def table(result):
  lines = ["| model | images | bytes integer / float | rate ratio | encode ratio | "
           "decode ratio | decode s (integer, float) |", "|---|---|---|---|---|---|---|"]
  for spec, r in result["results"].items():
    lines.append(f"| {spec} | {r['images']} | {r['bytes'][0]} / {r['bytes'][1]} | "
                 f"{r['rate_ratio']:.4f} | {r['encode_ratio']:.2f} | {r['decode_ratio']:.2f} | "
                 f"{r['decode_seconds'][0]:.1f}, {r['decode_seconds'][1]:.1f} |")
  return "\n".join(lines)
