"""Context models' rate on the same budget: Cheng20 at N=64 trained with the serial and with the
checkerboard context (U-Q for the entropy model, DS-Q for the decoder; same seed, data, steps and
λ), then every Kodak image coded for real: bpp from the bytes, PSNR on the uint8 reconstruction
decoded from them. Goal: checkerboard within 3% of serial's bpp. One λ: where the two land
at different PSNRs, the bpp ratio is not the rate difference at equal quality (that needs
BD-rate over several λ).
"""

import numpy as np

from benchmarks import common
from tfquant import data, evaluate, models

BUDGET = dict(arch="cheng2020", num_filters=64, lmbda=0.0075, steps=1000, learning_rate=1e-3)
MODES = ("serial", "checkerboard")
LAST_STEPS = 100  # the training loss reported is the mean over these


def same_budget(context, images):
  model = models.create(BUDGET["arch"], context=context, ent_quant="universal", dec_quant="dsq",
                        num_filters=BUDGET["num_filters"], lmbda=BUDGET["lmbda"])
  history, train_seconds = common.timed(common.quick_train, model, BUDGET["steps"], 128, 8,
                                 BUDGET["learning_rate"])
  model.finalize()
  model.decompress(*model.compress(images[0][:64, :64]))  # trace once
  bits, pixels, psnrs, encode, decode = 0, 0, [], [], []
  for image in images:
    pieces, seconds = common.timed(model.compress, image)
    encode.append(seconds)
    reconstruction, seconds = common.timed(model.decompress, *pieces)
    decode.append(seconds)
    bits += 8 * sum(len(p.numpy()[0]) for p in pieces[2:])
    pixels += image.shape[0] * image.shape[1]
    psnrs.append(evaluate.psnr(image, reconstruction.numpy()))
  return {"train_seconds": train_seconds,
          "train_loss": float(np.mean([h["loss"] for h in history[-LAST_STEPS:]])),
          "bpp": bits / pixels, "psnr": float(np.mean(psnrs)),
          "encode_seconds_per_image": float(np.mean(encode)),
          "decode_seconds_per_image": float(np.mean(decode))}


def run():
  paths, dataset = common.kodak_paths()
  images = [data.read_image(p) for p in paths]
  return {"dataset": dataset, "images": len(images), "budget": BUDGET,
          "machine": common.machine(), "modes": {m: same_budget(m, images) for m in MODES}}


def table(result):
  budget, modes, machine = result["budget"], result["modes"], result["machine"]
  lines = [f"{budget['arch']} N={budget['num_filters']}, λ={budget['lmbda']}, U-Q/DS-Q, "
           f"{budget['steps']} steps of 8 × 128² crops from the photos (Adam "
           f"{budget['learning_rate']:g}); all {result['images']} {result['dataset']} images "
           f"coded and decoded ({machine['cpus']} CPUs, TF {machine['tensorflow']}, "
           f"{machine['date']}).", "",
           f"| context | train s | train loss (last {LAST_STEPS}) | bpp | PSNR dB | "
           "encode s/img | decode s/img |", "|---|---|---|---|---|---|---|"]
  for mode, r in modes.items():
    lines.append(f"| {mode} | {r['train_seconds']:.0f} | {r['train_loss']:.3f} | "
                 f"{r['bpp']:.4f} | {r['psnr']:.2f} | {r['encode_seconds_per_image']:.2f} | "
                 f"{r['decode_seconds_per_image']:.2f} |")
  serial, checkerboard = modes["serial"], modes["checkerboard"]
  ratio = checkerboard["bpp"] / serial["bpp"]
  lines += ["", f"checkerboard ÷ serial: bpp {ratio:.4f} ({100 * (ratio - 1):+.2f}%), PSNR "
            f"{checkerboard['psnr'] - serial['psnr']:+.2f} dB, decode time "
            f"{checkerboard['decode_seconds_per_image'] / serial['decode_seconds_per_image']:.3f}×."]
  return "\n".join(lines)
