"""Context models' coding speed on Kodak: serial (5×5 masked, one position at a time) against
checkerboard (two parallel passes) and no context, each architecture at the papers' filter
counts (Cheng20 N=128, Minnen18 N=M=192), untrained (coding time doesn't depend on the
weights: Minnen18's single Gaussian codes one symbol per element under indexed tables,
Cheng20's mixture 16 binary decisions), with TFC's range coder, on the first `SPEED_IMAGES`
Kodak images after one warm-up image. The rate side is `context_rate`.
"""


import numpy as np

from benchmarks import common
from tfquant import data, models

SPEED_CONFIGS = {
    "cheng2020": dict(num_filters=128),
    "minnen2018": dict(num_filters=192, latent_filters=192),
}
MODES = ("none", "checkerboard", "serial")
SPEED_IMAGES = 3
CODING = "tables+hoisted-kernels"  # what coded the results (older results predate both)


def speed(arch, context, images):
  model = models.create(arch, context=context, **SPEED_CONFIGS[arch])
  model.finalize()
  model.decompress(*model.compress(images[0][:64, :64]))  # trace once
  encode, decode = [], []
  for image in images[1:SPEED_IMAGES + 1]:
    pieces, seconds = common.timed(model.compress, image)
    encode.append(seconds)
    _, seconds = common.timed(model.decompress, *pieces)
    decode.append(seconds)
  return {"encode_seconds_per_image": float(np.mean(encode)),
          "decode_seconds_per_image": float(np.mean(decode))}


def run():
  paths, dataset = common.kodak_paths()
  images = [data.read_image(p) for p in paths]
  speeds = {arch: {mode: speed(arch, mode, images) for mode in MODES}
            for arch in SPEED_CONFIGS}
  return {"dataset": dataset, "images": len(images), "speed_images": SPEED_IMAGES,
          "machine": common.machine(), "speed": speeds, "coding": CODING}


def table(result):
  machine = result["machine"]
  lines = [f"Speed on {result['speed_images']} {result['dataset']} images "
           f"({machine['cpus']} CPUs, TF {machine['tensorflow']}, {machine['date']}). "
           "Goal: checkerboard decodes ≥ 10× faster than serial." +
           ("" if result.get("coding") == CODING else
            " Measured before single Gaussians were table-coded and the serial step's kernels "
            "were computed once per image: rerun it."), "",
           "| arch | context | encode s/img | decode s/img | serial ÷ this (decode) | "
           "context's own decode s/img (this − none) |",
           "|---|---|---|---|---|---|"]
  notes = []
  for arch, modes in result["speed"].items():
    decode = {mode: r["decode_seconds_per_image"] for mode, r in modes.items()}
    own = {mode: seconds - decode["none"] for mode, seconds in decode.items()}
    for mode, r in modes.items():
      lines.append(f"| {arch} | {mode} | {r['encode_seconds_per_image']:.2f} | "
                   f"{decode[mode]:.2f} | {decode['serial'] / decode[mode]:.1f}× | "
                   f"{own[mode]:.2f} |")
    if own["checkerboard"] > 0:
      notes.append(f"- {arch}: the serial context's own decode time is "
                   f"{own['serial'] / own['checkerboard']:.1f}× the checkerboard's.")
    else:
      notes.append(f"- {arch}: the checkerboard decodes as fast as no context at all (its own "
                   f"time is below this run's noise); the serial context adds "
                   f"{own['serial']:.2f} s/img.")
  # Once serial coding is fast, the transforms shared by every mode bound the whole-image
  # ratio: the context's own time (beyond no context at all) is what the two designs differ in.
  return "\n".join(lines + [""] + notes)
