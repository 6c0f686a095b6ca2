"""Context models on Kodak: serial (5×5 masked, one position at a time) against checkerboard
(two parallel passes) and no context.

Speed: each architecture at the papers' filter counts (Cheng20 N=128, Minnen18 N=M=192),
untrained (coding time doesn't depend on the weights: every symbol takes the same 16 binary
decisions), on the first `SPEED_IMAGES` Kodak images after one warm-up image. Rate: Cheng20
at N=64 trained serial and checkerboard on the same budget (same seed, data, steps), then
every Kodak image coded for real; bpp from the bytes, PSNR on the uint8 reconstruction.
"""

import time

import numpy as np

from benchmarks import common
from tfquant import data, evaluate, models

SPEED_CONFIGS = {
    "cheng2020": dict(num_filters=128),
    "minnen2018": dict(num_filters=192, latent_filters=192),
}
MODES = ("none", "checkerboard", "serial")
SPEED_IMAGES = 3
BUDGET = dict(arch="cheng2020", num_filters=64, lmbda=0.0075, steps=1000)
BUDGET_DECODED_IMAGES = 4  # serial decoding is slow; every image is encoded


def timed(function, *args):
  start = time.perf_counter()
  out = function(*args)
  return out, time.perf_counter() - start


def speed(arch, context, images):
  model = models.create(arch, context=context, **SPEED_CONFIGS[arch])
  model.finalize()
  model.decompress(*model.compress(images[0][:64, :64]))  # trace once
  encode, decode = [], []
  for image in images[1:SPEED_IMAGES + 1]:
    pieces, seconds = timed(model.compress, image)
    encode.append(seconds)
    _, seconds = timed(model.decompress, *pieces)
    decode.append(seconds)
  return {"encode_seconds_per_image": float(np.mean(encode)),
          "decode_seconds_per_image": float(np.mean(decode))}


def same_budget(context, images):
  options = {k: v for k, v in BUDGET.items() if k not in ("arch", "steps")}
  model = models.create(BUDGET["arch"], context=context, ent_quant="universal",
                        dec_quant="dsq", **options)
  start = time.perf_counter()
  history = common.quick_train(model, BUDGET["steps"])
  train_seconds = time.perf_counter() - start
  model.finalize()
  model.decompress(*model.compress(images[0][:64, :64]))  # trace once
  bits, psnrs, encode, decode, pixels = 0, [], [], [], 0
  for index, image in enumerate(images):
    pieces, seconds = timed(model.compress, image)
    encode.append(seconds)
    bits += 8 * sum(len(p.numpy()[0]) for p in pieces[1:])
    pixels += image.shape[0] * image.shape[1]
    if index < BUDGET_DECODED_IMAGES:
      reconstruction, seconds = timed(model.decompress, *pieces)
      decode.append(seconds)
      psnrs.append(evaluate.psnr(image, reconstruction.numpy()))
  return {"train_seconds": train_seconds, "final_train_loss": history[-1]["loss"],
          "bpp": bits / pixels, "psnr_decoded": float(np.mean(psnrs)),
          "encode_seconds_per_image": float(np.mean(encode)),
          "decode_seconds_per_image": float(np.mean(decode))}


def run():
  paths, dataset = common.kodak_paths()
  images = [data.read_image(p) for p in paths]
  speeds = {arch: {mode: speed(arch, mode, images) for mode in MODES}
            for arch in SPEED_CONFIGS}
  budget = {mode: same_budget(mode, images) for mode in ("serial", "checkerboard")}
  return {"dataset": dataset, "images": len(images), "speed_images": SPEED_IMAGES,
          "budget": BUDGET, "budget_decoded_images": BUDGET_DECODED_IMAGES,
          "machine": common.machine(), "speed": speeds, "same_budget": budget}


def table(result):
  machine = result["machine"]
  lines = [f"Speed on {result['speed_images']} {result['dataset']} images "
           f"({machine['cpus']} CPUs, TF {machine['tensorflow']}, {machine['date']}). "
           "Goal: checkerboard decodes ≥ 10× faster than serial.", "",
           "| arch | context | encode s/img | decode s/img | serial ÷ this (decode) |",
           "|---|---|---|---|---|"]
  for arch, modes in result["speed"].items():
    serial = modes["serial"]["decode_seconds_per_image"]
    for mode, r in modes.items():
      lines.append(f"| {arch} | {mode} | {r['encode_seconds_per_image']:.2f} | "
                   f"{r['decode_seconds_per_image']:.2f} | "
                   f"{serial / r['decode_seconds_per_image']:.1f}× |")
  b, budget = result["same_budget"], result["budget"]
  ratio = b["checkerboard"]["bpp"] / b["serial"]["bpp"]
  speedup = b["serial"]["decode_seconds_per_image"] / b["checkerboard"]["decode_seconds_per_image"]
  lines += ["", f"Same budget: {budget['arch']} N={budget['num_filters']}, "
            f"λ={budget['lmbda']}, U-Q/DS-Q, {budget['steps']} steps (128² × 8, Adam 1e-3) on "
            f"the photos; bpp from the bytes of all {result['images']} images, PSNR and decode "
            f"time on the first {result['budget_decoded_images']}. Goal: bpp within 3%.", "",
            "| context | train s | bpp | PSNR dB | encode s/img | decode s/img |",
            "|---|---|---|---|---|---|"]
  for mode, r in b.items():
    lines.append(f"| {mode} | {r['train_seconds']:.0f} | {r['bpp']:.4f} | "
                 f"{r['psnr_decoded']:.2f} | {r['encode_seconds_per_image']:.2f} | "
                 f"{r['decode_seconds_per_image']:.2f} |")
  lines += ["", f"checkerboard ÷ serial bpp: {ratio:.4f} ({100 * (ratio - 1):+.2f}%); serial ÷ "
            f"checkerboard decode time: {speedup:.1f}×."]
  return "\n".join(lines)
