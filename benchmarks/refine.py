"""What encoder-side refinement (`--refine`, `tfquant.refine`) costs and gains, by the
search's precision.

The zoo's balle2018-mse-0.01 and cheng2020-mse-0.003, 100 steps of search on the first four
Kodak images: the plain encoder, the float32 search and the bfloat16 search (a twin of the
model on the same weights) interleaved image by image, each traced first on a crop. Gain:
the hard-rounded λ·D + R of the latent kept over the analysis transform's (the model's own
estimate; both searches keep the best of their iterates by the float32 model's loss). Cost:
seconds per image, the tracing of each image's search included as a user meets it. bfloat16
is native with AVX-512 BF16 or AMX (`native`); elsewhere it is emulated, and "auto" (the
default) searches in float32.
"""

import numpy as np

from benchmarks import common
from tfquant import coding, data, refine
from tfquant.train import strategy

ENTRIES = ("balle2018-mse-0.01", "cheng2020-mse-0.003")
IMAGES = 4
STEPS = 100
PRECISIONS = ("float32", "mixed_bfloat16")


def bench_entry(name, paths):
  model = common.zoo_model(name)
  crop = data.read_image(paths[0])[:64, :64]
  coding.encode(model, crop)
  for precision in PRECISIONS:
    refine.refined_latent(model, crop, 2, precision=precision)
  seconds = {kind: [] for kind in ("plain",) + PRECISIONS}
  gains = {precision: [] for precision in PRECISIONS}
  for path in paths:
    image = data.read_image(path)
    seconds["plain"].append(common.timed(coding.encode, model, image)[1])
    for precision in PRECISIONS:
      (_, losses), took = common.timed(refine.refined_latent, model, image, STEPS,
                                       precision=precision)
      seconds[precision].append(took)
      gains[precision].append(losses["after"] / losses["before"])
  return {"seconds_per_image": {k: float(np.mean(v)) for k, v in seconds.items()},
          "loss_after_over_before": {k: float(np.mean(v)) for k, v in gains.items()},
          "per_image_loss_ratio": {k: [float(r) for r in v] for k, v in gains.items()}}


def run():
  paths, source = common.kodak_paths()
  return {"images": source, "count": min(IMAGES, len(paths)), "steps": STEPS,
          "native": strategy.native_bfloat16(),
          "entries": {name: bench_entry(name, paths[:IMAGES]) for name in ENTRIES},
          "machine": common.machine()}


def table(result):
  lines = [f"{result['count']} images ({result['images']}), {result['steps']} steps, bfloat16 "
           f"{'native' if result['native'] else 'emulated'}.", "",
           "| entry | plain s/image | float32 search s/image | bfloat16 search s/image | "
           "bfloat16 speed-up | loss after/before float32 | bfloat16 |",
           "|---|---|---|---|---|---|---|"]
  for name, entry in result["entries"].items():
    seconds, gain = entry["seconds_per_image"], entry["loss_after_over_before"]
    lines.append(f"| {name} | {seconds['plain']:.2f} | {seconds['float32']:.1f} | "
                 f"{seconds['mixed_bfloat16']:.1f} | "
                 f"{seconds['float32'] / seconds['mixed_bfloat16']:.2f}× | "
                 f"{gain['float32']:.4f} | {gain['mixed_bfloat16']:.4f} |")
  return "\n".join(lines)
