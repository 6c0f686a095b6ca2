"""tfquant beside its peers (`make bench-peers`): CompressAI 1.2.8 on torch, and for training
the TFC reference (benchmarks/tfc_reference.py), same filters, same machine, one run.

Each measurement is a fresh process (`peers_tfquant.py` here, `peers_compressai.py` under the
peers' own Python, `PEERS_PYTHON`), timed after one warm-up item; the processes go round-robin
(every task and side once per round), and the median over rounds is reported. Models are
untrained: coding time doesn't depend on the weights. Pairs: Ballé18 N=128/M=192 and
CompressAI's ScaleHyperprior (training step: batch 8 of 256², λ·MSE + bpp, CompressAI with
its auxiliary loss as its example trainer does); Minnen18 N=192/M=320 and mbt2018; Cheng20
N=128 without attention and with one Gaussian (CompressAI's Cheng2020Anchor, serial, and
Cheng2020AnchorCheckerboard). tfquant trains in float32 and in bfloat16
(`tfquant_bfloat16`), CompressAI in float32. Goals: serial and checkerboard coding at or under
CompressAI's time (ratio ≤ 1), Ballé18 coding ≤ 0.5×, checkerboard ≥ 10× faster than serial,
training ≥ 1.0× the reference's steps/s.
"""

import json
import os
import statistics
import subprocess
import sys

from benchmarks import common

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PEERS_PYTHON = os.environ.get("PEERS_PYTHON", os.path.join(REPO, ".venv-peers", "bin", "python"))
ROUNDS, IMAGES, TRAIN_STEPS = 2, 2, 3
TASKS = {  # task: the sides that run it
    "train": ("tfquant", "tfquant_bfloat16", "tfc_reference", "compressai"),
    "hyperprior": ("tfquant", "compressai"),
    "serial_minnen2018": ("tfquant", "compressai"),
    "serial_cheng2020": ("tfquant", "compressai"),
    "checkerboard_cheng2020": ("tfquant", "compressai"),
}


def command(task, side, paths):
  arguments = [str(TRAIN_STEPS)] if task == "train" else paths
  if side == "compressai":
    return [PEERS_PYTHON, os.path.join(HERE, "peers_compressai.py"), task, *arguments]
  worker_task = {"tfc_reference": "train_tfc_reference",
                 "tfquant_bfloat16": "train_bfloat16"}.get(side, task)
  return [sys.executable, "-m", "benchmarks.peers_tfquant", worker_task, *arguments]


def measure(task, side, paths):
  result = subprocess.run(command(task, side, paths), cwd=REPO, capture_output=True,
                          text=True, check=False)
  if result.returncode:
    raise RuntimeError(f"{task} on {side} failed:\n{result.stderr[-2000:]}")
  return json.loads(result.stdout.strip().splitlines()[-1])


def run():
  if not os.access(PEERS_PYTHON, os.X_OK):
    sys.exit(f"error: no peers environment at {PEERS_PYTHON} (make bench-peers builds it).")
  paths, dataset = common.kodak_paths()
  paths = paths[:IMAGES + 1]
  runs = {task: {side: [] for side in sides} for task, sides in TASKS.items()}
  for round_index in range(ROUNDS):
    for task, sides in TASKS.items():
      for side in sides:
        print(f"  round {round_index + 1}/{ROUNDS}: {task} on {side}", flush=True)
        runs[task][side].append(measure(task, side, paths))
  medians = {}
  for task, sides in runs.items():
    medians[task] = {}
    for side, results in sides.items():
      keys = [k for k in ("step", "encode", "decode") if k in results[0]]
      medians[task][side] = {k: statistics.median(v for r in results for v in r[k]) for k in keys}
      medians[task][side]["peak_rss_mb"] = max(r["peak_rss_mb"] for r in results)
  versions = {side: runs["train"][side][0]["versions"] for side in TASKS["train"]}
  return {"machine": common.machine(), "dataset": dataset, "images": IMAGES, "rounds": ROUNDS,
          "train_steps": TRAIN_STEPS, "versions": versions, "seconds": medians,
          "ratios": ratios(medians)}


def ratios(seconds):
  """tfquant's time ÷ the peer's (below 1: tfquant is faster), and the context goals."""
  out = {}
  for task, sides in seconds.items():
    for mine in (s for s in sides if s.startswith("tfquant")):
      ours = sides[mine]
      for side, theirs in sides.items():
        if not side.startswith("tfquant"):
          name = f"{task} vs {side}" if mine == "tfquant" else f"{task} ({mine}) vs {side}"
          out[name] = {k: ours[k] / theirs[k] for k in ours if k != "peak_rss_mb"}
  serial = seconds["serial_cheng2020"]["tfquant"]
  board = seconds["checkerboard_cheng2020"]["tfquant"]
  out["cheng2020 serial ÷ checkerboard (tfquant)"] = {k: serial[k] / board[k]
                                                      for k in ("encode", "decode")}
  return out


def table(result):
  machine = result["machine"]
  versions = ", ".join(dict.fromkeys(result["versions"].values()))
  lines = [f"{machine['cpus']} CPUs, {machine['date']}; {versions}; "
           f"coding: {result['images']} {result['dataset']} images per process after a warm-up "
           f"image, training: {result['train_steps']} steps after a warm-up step; median of "
           f"{result['rounds']} round-robin rounds.", "",
           "| task | side | step s | encode s/img | decode s/img | peak RSS MB |",
           "|---|---|---|---|---|---|"]
  cell = lambda value: "" if value is None else f"{value:.2f}"
  for task, sides in result["seconds"].items():
    for side, s in sides.items():
      lines.append(f"| {task} | {side} | {cell(s.get('step'))} | {cell(s.get('encode'))} | "
                   f"{cell(s.get('decode'))} | {s['peak_rss_mb']:.0f} |")
  lines += ["", "Ratios (tfquant's time ÷ the other's; below 1 tfquant is faster; the last row "
            "is a speed-up, goal ≥ 10):", "", "| comparison | step | encode | decode |",
            "|---|---|---|---|"]
  for name, r in result["ratios"].items():
    lines.append(f"| {name} | {cell(r.get('step'))} | {cell(r.get('encode'))} | "
                 f"{cell(r.get('decode'))} |")
  return "\n".join(lines)
