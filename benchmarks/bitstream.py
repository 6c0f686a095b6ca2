"""The bitstream: the pure-TF rANS coder (`--coder=tf`) against tensorflow-compression's range
coder (`tfc`) on Kodak, and the container's overhead.

Ballé18 (N=128/M=192; indexed tables) and Minnen18 with the checkerboard context (N=M=192;
one symbol per element under (scale, shift) tables, coded group by group), each trained
briefly on the photos (coder overheads are measured, not the models' quality), finalized;
every image is coded into `.tfq` files by both coders in turn (round-robin, after one
warm-up image each), and decoded. Goals: file size ≤ 1.02× and encode / decode time ≤ 3× of
`tfc`; container overhead (file size − Σ string lengths) ≤ 34 bytes (32 before the v3
container added the 2-byte side-information check).
"""


import numpy as np

from benchmarks import common
from tfquant import coding, data, models
from tfquant.coding import container

MODELS = {
    "balle2018": dict(arch="balle2018", num_filters=128, latent_filters=192),
    "minnen2018-checkerboard": dict(arch="minnen2018", context="checkerboard",
                                    num_filters=192, latent_filters=192),
}
TRAIN_STEPS = 200


def measure(options, images):
  model = models.create(**options, ent_quant="universal", dec_quant="dsq", lmbda=0.01)
  common.quick_train(model, TRAIN_STEPS)
  model.finalize()
  stats = {coder: {"bytes": 0, "encode": [], "decode": [], "overhead": []}
           for coder in coding.coders.NAMES}
  for coder in stats:  # trace once
    coding.decode(model, coding.encode(model, images[0], coder=coder))
  for image in images:
    for coder, stat in stats.items():
      payload, seconds = common.timed(coding.encode, model, image, coder=coder)
      stat["encode"].append(seconds)
      decoded, seconds = common.timed(coding.decode, model, payload)
      stat["decode"].append(seconds)
      assert decoded.shape == image.shape
      stat["bytes"] += len(payload)
      stat["overhead"].append(container.overhead(payload))
  pixels = sum(i.shape[0] * i.shape[1] for i in images)
  summary = {coder: {"bpp": 8 * s["bytes"] / pixels,
                     "encode_seconds_per_image": float(np.mean(s["encode"])),
                     "decode_seconds_per_image": float(np.mean(s["decode"])),
                     "overhead_bytes_max": int(max(s["overhead"]))}
             for coder, s in stats.items()}
  tf_, tfc = summary["tf"], summary["tfc"]
  ratio = lambda key: tf_[key] / tfc[key]
  return {"options": options, "coders": summary,
          "ratios": {"size": ratio("bpp"), "encode": ratio("encode_seconds_per_image"),
                     "decode": ratio("decode_seconds_per_image")}}


def run():
  paths, dataset = common.kodak_paths()
  images = [data.read_image(p) for p in paths]
  return {"dataset": dataset, "images": len(paths), "train_steps": TRAIN_STEPS,
          "machine": common.machine(),
          "models": {name: measure(options, images) for name, options in MODELS.items()}}


def table(result):
  stale = "models" not in result  # written before Minnen18 was measured too: Ballé18 only
  if stale:
    result = dict(result, models={"balle2018": result})
  met = lambda value, goal: "met" if value <= goal else "**not met**"
  machine = result["machine"]
  lines = [f"{result['train_steps']} training steps, {result['images']} {result['dataset']} "
           f"images ({machine['cpus']} CPUs, TF {machine['tensorflow']}, {machine['date']})."
           + (" Measured before Minnen18 joined this benchmark and before the rANS lanes' states "
              "grew to 4 bytes: rerun it." if stale else ""),
           "", "| model | coder | bpp (files) | encode s/img | decode s/img | "
           "container overhead (max) |", "|---|---|---|---|---|---|"]
  for name, measured in result["models"].items():
    for coder, r in measured["coders"].items():
      lines.append(f"| {name} | {coder} | {r['bpp']:.4f} | "
                   f"{r['encode_seconds_per_image']:.3f} | {r['decode_seconds_per_image']:.3f} "
                   f"| {r['overhead_bytes_max']} B |")
  lines.append("")
  for name, measured in result["models"].items():
    ratios = measured["ratios"]
    overhead = max(r["overhead_bytes_max"] for r in measured["coders"].values())
    lines.append(
        f"- {name}, tf ÷ tfc: size {ratios['size']:.4f}× (goal ≤ 1.02, "
        f"{met(ratios['size'], 1.02)}), encode {ratios['encode']:.2f}× (goal ≤ 3, "
        f"{met(ratios['encode'], 3)}), decode {ratios['decode']:.2f}× (goal ≤ 3, "
        f"{met(ratios['decode'], 3)}); overhead goal ≤ 34 B ({met(overhead, 34)}).")
  return "\n".join(lines)
