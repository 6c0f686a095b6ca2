"""The paper's experiment: architectures × (entropy, decoder) quantizer pairs × lambdas.

A grid config is a Python file defining `GRID` (see configs/grid_*.py)::

    GRID = dict(
        out_dir="runs/grid_mini",            # one run directory per cell below it
        archs={"balle2018": dict(num_filters=64, latent_filters=96)},
        pairs=[("noise", "noise"), ("universal", "dsq"), ("sth", "sth"), ...],
        lambdas=[0.003, 0.01, 0.03],         # one model per λ, or one variable-rate model per
                                             # pair: [(0.0008, 0.05)] with eval_rates=7 (λ
                                             # spaced evenly in log λ, its ends included)
        train=dict(steps=..., batch_size=..., patch_size=..., train_glob=...),  # TrainConfig
        arch_configs={"balle2018": "configs/balle2018.py"},  # optional base config per arch
        eval_images=None,                    # a folder; None: Kodak if present, else samples
        baselines={"jpeg": [...], "webp": [...]},  # Pillow codecs and their settings
        record="docs/results/grid_x_cells.json",   # optional: each cell's evaluation, to commit
        fixed_report="docs/results/grid_y_report.json",  # optional, for a variable-rate grid:
                                             # a fixed-rate grid of the same pairs to compare with
    )

`run` trains every unfinished cell (each a `python -m tfquant train` process, several at once
with `jobs`), evaluates each for real as soon as it finishes (cached per run), and writes
`report.md`, `report.json` and one RD plot per architecture; a variable-rate grid's report adds
each pair's gap to its own fixed-rate curve at each fixed λ. Calling it again resumes. A cell
found in the record is neither trained nor evaluated again: committed as the grid goes, the
record lets a grid resume on another machine, where the run directories are gone.
"""

import functools
import hashlib
import json
import math
import os
import shlex
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf

from tfquant import data, evaluate, models, quantizers, rd_curves, train
from tfquant import files

ANCHOR = ("noise", "noise")


def load_grid(path):
  grid = train.load_python_config(path, "GRID")
  missing = {"out_dir", "archs", "pairs", "lambdas", "train"} - set(grid)
  if missing:
    raise ValueError(f"{path}: GRID lacks {sorted(missing)}.")
  unknown = sorted(set(grid["archs"]) - set(models.names()))
  if unknown:
    raise ValueError(f"{path}: unknown architecture(s) {', '.join(unknown)}; choose from "
                     f"{', '.join(models.names())}.")
  grid["pairs"] = [tuple(quantizers.canonical_name(q) for q in pair) for pair in grid["pairs"]]
  if ANCHOR not in grid["pairs"]:
    raise ValueError(f"{path}: the pairs must include the anchor {ANCHOR}.")
  ranges = [l for l in grid["lambdas"] if isinstance(l, (tuple, list))]
  if ranges and not (len(grid["lambdas"]) == 1 and len(ranges[0]) == 2
                     and 0 < ranges[0][0] < ranges[0][1]):
    raise ValueError(f"{path}: lambdas holds fixed λ values or one (low, high) range, "
                     f"got {grid['lambdas']}.")
  if grid.get("fixed_report"):
    _check_fixed_report(path, grid, variable_rate=bool(ranges))
  return grid


def _check_fixed_report(path, grid, variable_rate):
  """Before any training: the report a variable-rate grid is measured against holds its
  architectures."""
  report = grid["fixed_report"]
  if not variable_rate:
    raise ValueError(f"{path}: fixed_report is for a grid of one (low, high) λ range.")
  try:
    with open(report) as f:
      archs = json.load(f)["archs"]
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise ValueError(f"{path}: fixed_report {report} is not a readable grid report "
                     f"({error}).") from None
  missing = sorted(set(grid["archs"]) - set(archs))
  if missing:
    raise ValueError(f"{path}: fixed_report {report} has no {', '.join(missing)}; it holds "
                     f"{', '.join(sorted(archs))}.")


def pair_label(pair):
  return "/".join(map(quantizers.paper_name, pair))


class Cell:
  """One training run of the grid: a model for one λ, or a variable-rate model for a
  (low, high) range of λ, evaluated at several."""

  def __init__(self, grid, arch, pair, lmbda):
    self.grid, self.arch, self.pair, self.lmbda = grid, arch, pair, lmbda
    self.variable_rate = isinstance(lmbda, (tuple, list))
    rate = "-".join(f"{l:g}" for l in lmbda) if self.variable_rate else f"{lmbda:g}"
    self.name = f"{arch}/{'-'.join(pair)}/lambda_{rate}"
    self.run_dir = os.path.join(grid["out_dir"], *self.name.split("/"))

  @property
  def rates(self):
    """{record key: λ} of the points this cell is evaluated at."""
    if not self.variable_rate:
      return {self.name: self.lmbda}
    rates = evaluate.log_spaced(*self.lmbda, self.grid.get("eval_rates", 6))
    return {f"{self.name}@{lmbda:.4g}": lmbda for lmbda in rates}

  def train_command(self):
    command = [sys.executable, "-m", "tfquant", "train"]
    base = self.grid.get("arch_configs", {}).get(self.arch)
    if base:
      command.append(f"--config={base}")
    settings = dict(self.grid["train"], **self.grid["archs"][self.arch])
    settings.update(arch=self.arch, ent_quant=self.pair[0], dec_quant=self.pair[1],
                    train_dir=self.run_dir)
    if self.variable_rate:
      settings.update(lmbda=self.lmbda[0], lmbda_max=self.lmbda[1])
    else:
      settings.update(lmbda=self.lmbda)
    if "init_from" in settings:  # may name the cell's λ, e.g. "zoo:balle2018-mse-{lmbda:g}"
      settings["init_from"] = settings["init_from"].format(lmbda=self.lmbda)
    for key, value in sorted(settings.items()):
      if isinstance(value, dict):
        command += [f"--set={key}.{k}={v!r}" for k, v in sorted(value.items())]
      else:
        command.append(f"--{key}={value}")
    return command + ["--progress=false"]

  @property
  def finished(self):
    latest = tf.train.latest_checkpoint(os.path.join(self.run_dir, "checkpoints"))
    done = latest is not None and int(latest.rsplit("-", 1)[1]) >= self.grid["train"]["steps"]
    return done and os.path.exists(os.path.join(self.run_dir, models.RUN_MODEL_DIR,
                                                models.CONFIG_FILE))


def cells(grid):
  return [Cell(grid, arch, pair, lmbda) for arch in grid["archs"] for pair in grid["pairs"]
          for lmbda in grid["lambdas"]]


def print_jobs(grid, stream=sys.stdout):
  for cell in cells(grid):
    stream.write(shlex.join(cell.train_command()) + "\n")


class Record:
  """The evaluations of finished cells on the evaluation images `paths`, one per key of
  `Cell.rates`, in one JSON file meant to be committed as the grid goes; those made on other
  images do not count."""

  def __init__(self, path, paths):
    self.path, self.paths, self.cells = path, paths, {}
    self.images_key = hashlib.sha256("\n".join(paths).encode()).hexdigest()[:10]
    if path and os.path.exists(path):
      with open(path) as f:
        try:
          saved = json.load(f)
        except ValueError:
          saved = None
      if not (isinstance(saved, dict) and isinstance(saved.get("cells"), dict) and all(
          isinstance(p, dict) and isinstance(p.get("mean"), dict) and all(
              isinstance(p["mean"].get(k), (int, float)) for k in ("bpp", "psnr", "ms_ssim_db"))
          for p in saved["cells"].values())):
        raise ValueError(f"{path} is no grid record (JSON with the evaluation of each cell); "
                         "restore it from git or remove it to evaluate the runs again")
      if saved.get("images") == self.images_key:
        self.cells = saved["cells"]

  def get(self, key):
    return self.cells.get(key)

  def holds(self, cell):
    return all(key in self.cells for key in cell.rates)

  def add(self, key, point):
    self.cells[key] = point
    if self.path:
      data.make_folder(os.path.dirname(os.path.abspath(self.path)))
      text = json.dumps({"images": self.images_key, "cells": self.cells}, indent=1,
                        sort_keys=True)
      files.write_atomically(self.path, text.encode() + b"\n")


def eval_paths(grid):
  directory = grid.get("eval_images") or data.shared_dir("kodak") or data.sample_dir()
  return data.image_paths(directory)


def _cached(path, compute):
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  result = compute()
  with open(path, "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  return result


def evaluate_cell(cell, record, log=print):
  """[(λ, RD point)] of the cell, one per rate: from the record, else from its run (cached
  there), then recorded."""
  model = functools.cache(lambda: models.load(cell.run_dir))  # loaded once, if at all
  points = []
  for key, lmbda in cell.rates.items():
    point = record.get(key)
    if point is None:
      suffix = f"-{lmbda:.4g}" if cell.variable_rate else ""
      point = _cached(os.path.join(cell.run_dir, f"eval-{record.images_key}{suffix}.json"),
                      functools.partial(_evaluate_rate, cell, record, key, lmbda, model, log))
      record.add(key, point)
    points.append((lmbda, point))
  return points


def _evaluate_rate(cell, record, key, lmbda, model, log):
  """The RD point of `cell` at `lmbda` on the record's images; `model()` loads the model."""
  log(f"evaluating {cell.run_dir}" + (f" at λ={lmbda:.4g}" if cell.variable_rate else ""))
  codec = evaluate.ModelCodec(model(), label=pair_label(cell.pair),
                              lmbda=lmbda if cell.variable_rate else None)
  point = evaluate.evaluate(codec, record.paths, estimate=True,
                            progress=evaluate.terminal_progress(key))
  point["settings"].update(arch=cell.arch, lmbda=lmbda)
  return point


def _duration(seconds):
  return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.0f} min"


def train_all(grid, record, jobs=1, log=print, finished=lambda cell: None):
  """Runs `python -m tfquant train` for every cell neither finished nor recorded, `jobs` at a
  time, calling `finished(cell)` as each one ends well; returns the failures."""
  pending = [c for c in cells(grid) if not c.finished and not record.holds(c)]
  total, running, failures, done = len(pending), [], [], 0
  start = time.monotonic()
  log(f"{total} of {len(cells(grid))} runs to train, {jobs} at a time.")

  def launch():
    while pending and len(running) < jobs:
      cell = pending.pop(0)
      os.makedirs(cell.run_dir, exist_ok=True)
      log_file = open(os.path.join(cell.run_dir, "train.log"), "a")
      running.append((cell, log_file, subprocess.Popen(
          cell.train_command(), stdout=log_file, stderr=subprocess.STDOUT)))
      log(f"training {cell.run_dir}")

  launch()
  while running:
    ended = [entry for entry in running if entry[2].poll() is not None]
    for entry in ended:
      running.remove(entry)
      entry[1].close()
    launch()  # the next runs train while the ended ones are evaluated
    for cell, _, process in ended:
      done += 1
      if process.returncode != 0:
        failures.append(cell)
        log(f"FAILED {cell.run_dir} (exit {process.returncode}; see its train.log)")
      else:
        finished(cell)
      elapsed = time.monotonic() - start
      log(f"[{done}/{total}] {cell.name} ended after {_duration(elapsed)} in all; "
          f"about {_duration(elapsed / done * (total - done))} left")
    time.sleep(0.5)
  return failures


def evaluate_all(grid, record, log=print):
  """{cell: [(λ, point)]} for finished or recorded cells, and the baseline points."""
  points = {cell: evaluate_cell(cell, record, log) for cell in cells(grid)
            if record.holds(cell) or cell.finished}
  baselines = []
  for name, qualities in grid.get("baselines", {}).items():
    for quality in qualities:
      path = os.path.join(grid["out_dir"], "baselines",
                          f"{name}-{quality}-{record.images_key}.json")
      os.makedirs(os.path.dirname(path), exist_ok=True)
      baselines.append(_cached(path, lambda n=name, q=quality: evaluate.evaluate(
          evaluate.PillowCodec(n, q), record.paths)))
  return points, baselines


def _signed(value, digits, overlap=1.0):
  """'+1.23', '+1.23 †' where the curves overlap less than `rd_curves.BD_MIN_OVERLAP`
  (unreliable), or 'n/a' where a BD figure is undefined."""
  if math.isnan(value):
    return "n/a"
  mark = rd_curves.unreliable_mark(overlap)
  return f"{value:+.{digits}f}" + (f" {mark}" if mark else "")


def bd_row(anchor, curve):
  """BD figures of `curve` against `anchor`, each with the overlap it was computed on."""
  return {"bd_rate_psnr": rd_curves.bd_rate(anchor, curve, "psnr"),
          "bd_rate_ms_ssim": rd_curves.bd_rate(anchor, curve, "ms_ssim_db"),
          "bd_psnr": rd_curves.bd_psnr(anchor, curve, "psnr"),
          "overlap": {"bd_rate_psnr": rd_curves.bd_overlap(anchor, curve, "psnr"),
                      "bd_rate_ms_ssim": rd_curves.bd_overlap(anchor, curve, "ms_ssim_db"),
                      "bd_psnr": rd_curves.bd_overlap(anchor, curve, kind="quality")}}


def best_pair(rows):
  """(label, criterion): the lowest PSNR BD-rate if every pair has one, else the highest BD-PSNR.

  BD-rate needs quality rising with rate on both curves; an undertrained high-λ point often
  breaks that, and ranking only the pairs that kept a BD-rate would crown the anchor by default.
  """
  pairs = [r for r in rows if not r.get("baseline")]
  if pairs and not any(math.isnan(r["bd_rate_psnr"]) for r in pairs):
    return min(pairs, key=lambda r: r["bd_rate_psnr"])["pair"], "BD-rate, PSNR"
  ranked = [r for r in pairs if not math.isnan(r["bd_psnr"])]
  if ranked:
    return max(ranked, key=lambda r: r["bd_psnr"])["pair"], "BD-PSNR; some BD-rates undefined"
  return None, "no BD figures"


def rate_gap(curve, bpp, psnr):
  """How many more bits (%) `curve` [(bpp, PSNR, …)] spends than the point (bpp, PSNR) at its
  PSNR, interpolated in log bpp; NaN outside the curve's PSNR range or where PSNR falls."""
  rates, qualities = zip(*[(b, q) for b, q, *_ in sorted(curve)])
  if not (all(a < b for a, b in zip(qualities, qualities[1:]))
          and qualities[0] <= psnr <= qualities[-1]):
    return math.nan
  return 100 * (math.exp(np.interp(psnr, qualities, np.log(rates))) / bpp - 1)


def fixed_rate_rows(grid, arch, curve_map):
  """Each pair's variable-rate curve against the same pair's fixed-rate curve in the grid's
  `fixed_report`: the BD figures over their shared range and the rate gap at each fixed λ."""
  with open(grid["fixed_report"]) as f:
    fixed = {row["pair"]: row["points"] for row in json.load(f)["archs"][arch]["pairs"]
             if "points" in row}
  rows = []
  for label, curve in curve_map.items():
    if label in fixed:
      points = sorted(fixed[label], key=lambda p: p["lmbda"])
      fixed_curve = sorted((p["bpp"], p["psnr"], p["ms_ssim_db"]) for p in points)
      rows.append({"pair": label, **bd_row(fixed_curve, curve), "gaps": [
          {"lmbda": p["lmbda"], "bpp": p["bpp"], "rate_gap": rate_gap(curve, p["bpp"], p["psnr"])}
          for p in points]})
  return rows


def _fixed_rate_lines(grid, rows):
  lambdas = [gap["lmbda"] for gap in rows[0]["gaps"]] if rows else []
  lines = [f"### Against fixed-rate models of the same pair ({grid['fixed_report']})", "",
           "Extra bits of the variable-rate model at the PSNR of each fixed-rate model (%; "
           "n/a outside its range).", "",
           "| pair | BD-rate PSNR % | " + " | ".join(f"λ={l:g}" for l in lambdas) + " |",
           "|---|---|" + "---|" * len(lambdas)]
  for row in rows:
    gaps = [_signed(gap["rate_gap"], 1) for gap in row["gaps"]]
    bd = _signed(row["bd_rate_psnr"], 2, row["overlap"]["bd_rate_psnr"])
    lines.append(f"| {row['pair']} | {bd} | {' | '.join(gaps)} |")
  return lines + [""]


def report(grid, points, baselines):
  """Writes report.md, report.json and rd_<arch>.png; returns the report dict."""
  out = grid["out_dir"]
  baseline_curves = rd_curves.curves(baselines)
  result = {"eval_images": len(eval_paths(grid)), "bd_method": rd_curves.BD_METHOD, "archs": {}}
  lines = [f"# Quantizer comparison: {os.path.basename(os.path.normpath(out))}", "",
           f"Evaluated on {result['eval_images']} images; bpp counts every byte of the coded "
           f"files. BD-rates against {pair_label(ANCHOR)} ({rd_curves.BD_METHOD} "
           "interpolation; negative = fewer bits at equal quality; n/a where the curves do "
           "not overlap or are not monotonic).", ""]
  for arch in grid["archs"]:
    arch_points = {c.pair: [] for c in points if c.arch == arch}
    for cell, rates in points.items():
      if cell.arch == arch:
        arch_points[cell.pair] += [(lmbda, point["mean"]) for lmbda, point in rates]
    curve_map = {pair_label(p): sorted((m["bpp"], m["psnr"], m["ms_ssim_db"]) for _, m in v)
                 for p, v in arch_points.items()}
    anchor = curve_map.get(pair_label(ANCHOR), [])
    rows = []
    for pair in grid["pairs"]:
      label = pair_label(pair)
      if label not in curve_map:
        continue
      rows.append({"pair": label, "ent_quant": pair[0], "dec_quant": pair[1],
                   "points": [dict(lmbda=l, **m) for l, m in sorted(arch_points[pair])],
                   **bd_row(anchor, curve_map[label])})
    for label, curve in baseline_curves.items():
      rows.append({"pair": label, "baseline": True, **bd_row(anchor, curve)})
    best, best_by = best_pair(rows)
    plot = rd_curves.rd_plot(curve_map, os.path.join(out, f"rd_{arch}.png"), title=arch,
                            references=baseline_curves)
    result["archs"][arch] = {"pairs": rows, "best_pair": best, "best_by": best_by,
                             "plot": os.path.basename(plot)}
    if grid.get("fixed_report"):
      result["archs"][arch]["against_fixed_rate"] = fixed_rate_rows(grid, arch, curve_map)
    lines += [f"## {arch}", "", f"Best pair ({best_by}): **{best}**", "",
              f"![RD curves]({os.path.basename(plot)})", "",
              "| pair (entropy/decoder) | BD-rate PSNR % | BD-rate MS-SSIM % | BD-PSNR dB |"
              " points (λ: bpp, PSNR) |", "|---|---|---|---|---|"]
    for row in rows:
      points_text = "; ".join(f"{p['lmbda']:.4g}: {p['bpp']:.3f}, {p['psnr']:.2f}"
                              for p in row.get("points", []))
      bd = [_signed(row[k], digits, row["overlap"][k])
            for k, digits in (("bd_rate_psnr", 2), ("bd_rate_ms_ssim", 2), ("bd_psnr", 3))]
      lines.append(f"| {row['pair']} | {' | '.join(bd)} | {points_text} |")
    lines += ["", f"† the curves overlap less than {rd_curves.BD_MIN_OVERLAP:.0%} on the axis "
              "that figure integrates over: it extrapolates more than it measures.", ""]
    if grid.get("fixed_report"):
      lines += _fixed_rate_lines(grid, result["archs"][arch]["against_fixed_rate"])
  with open(os.path.join(out, "report.json"), "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  with open(os.path.join(out, "report.md"), "w") as f:
    f.write("\n".join(lines))
  return result


def run(grid, jobs=1, train=True, log=print):
  if os.path.exists(grid["out_dir"]) and not os.path.isdir(grid["out_dir"]):
    raise NotADirectoryError(f"The grid's folder {grid['out_dir']} is a file.")
  os.makedirs(grid["out_dir"], exist_ok=True)
  record = Record(grid.get("record"), eval_paths(grid))
  failures = []
  if train:
    failures = train_all(grid, record, jobs, log,
                         finished=lambda cell: evaluate_cell(cell, record, log))
  points, baselines = evaluate_all(grid, record, log)
  result = report(grid, points, baselines)
  log(f"Report: {os.path.join(grid['out_dir'], 'report.md')}")
  return result, failures
