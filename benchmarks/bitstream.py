"""Bitstream v2: the pure-TF rANS coder (`--coder=tf`) against tensorflow-compression's range
coder (`tfc`) on Kodak, and the container's overhead.

Ballé18 at N=128/M=192, trained briefly on the photos (coder overheads are measured, not the
model's quality), finalized; every image is coded into `.tfq` files by both coders in turn
(round-robin, after one warm-up image each), and decoded. Goals: file size ≤ 1.02× and
encode / decode time ≤ 3× of `tfc`; container overhead (file size − Σ string lengths) ≤ 32
bytes. Context and mixture models (Minnen18, Cheng20) code with `tfc` only so far.
"""

import time

import numpy as np

from benchmarks import common
from tfquant import coding, data, models
from tfquant.coding import container

FILTERS = dict(num_filters=128, latent_filters=192)
TRAIN_STEPS = 200


def timed(function, *args, **kwargs):
  start = time.perf_counter()
  result = function(*args, **kwargs)
  return result, time.perf_counter() - start


def run():
  paths, dataset = common.kodak_paths()
  model = models.create("balle2018", ent_quant="universal", dec_quant="dsq", lmbda=0.01,
                        **FILTERS)
  common.quick_train(model, TRAIN_STEPS)
  model.finalize()
  images = [data.read_image(p) for p in paths]
  stats = {coder: {"bytes": 0, "encode": [], "decode": [], "overhead": []}
           for coder in coding.coders.NAMES}
  for coder in stats:  # trace once
    coding.decode(model, coding.encode(model, images[0], coder=coder))
  for image in images:
    for coder, stat in stats.items():
      payload, seconds = timed(coding.encode, model, image, coder=coder)
      stat["encode"].append(seconds)
      decoded, seconds = timed(coding.decode, model, payload)
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
  return {"dataset": dataset, "images": len(paths), "train_steps": TRAIN_STEPS,
          "filters": FILTERS, "machine": common.machine(), "coders": summary,
          "ratios": {"size": tf_["bpp"] / tfc["bpp"],
                     "encode": tf_["encode_seconds_per_image"] / tfc["encode_seconds_per_image"],
                     "decode": tf_["decode_seconds_per_image"] / tfc["decode_seconds_per_image"]}}


def table(result):
  ratios = result["ratios"]
  met = lambda value, goal: "met" if value <= goal else "**not met**"
  lines = [
      f"Ballé18 N={result['filters']['num_filters']} M={result['filters']['latent_filters']}, "
      f"{result['train_steps']} training steps, {result['images']} {result['dataset']} images "
      f"({result['machine']['cpus']} CPUs, TF {result['machine']['tensorflow']}, "
      f"{result['machine']['date']}).", "",
      "| coder | bpp (files) | encode s/img | decode s/img | container overhead (max) |",
      "|---|---|---|---|---|"]
  for coder, r in result["coders"].items():
    lines.append(f"| {coder} | {r['bpp']:.4f} | {r['encode_seconds_per_image']:.3f} | "
                 f"{r['decode_seconds_per_image']:.3f} | {r['overhead_bytes_max']} B |")
  lines += ["", f"tf ÷ tfc: size {ratios['size']:.4f}× (goal ≤ 1.02, "
            f"{met(ratios['size'], 1.02)}), encode {ratios['encode']:.2f}× (goal ≤ 3, "
            f"{met(ratios['encode'], 3)}), decode {ratios['decode']:.2f}× (goal ≤ 3, "
            f"{met(ratios['decode'], 3)}); overhead goal ≤ 32 B "
            f"({met(max(r['overhead_bytes_max'] for r in result['coders'].values()), 32)})."]
  return "\n".join(lines)
