"""RD curves: results files (ours and CompressAI's), the curves in them, their BD figures and
plots.

A results file holds "points" (one codec setting over a set of images: its label, settings,
per-image rows and their means) as JSON, with a CSV and CompressAI's results JSON beside it; a
curve is the points that share a label, [(bpp, psnr, ms_ssim_db)] in rate order.
"""

import csv
import functools
import io
import json
import math
import os
import warnings

import numpy as np

from tfquant import data, files

# PCHIP (the JCT-VC CTC sheet's choice) keeps each interpolant between its points; on 3-point
# curves that flatten, Akima and cubic splines overshoot and swing BD-rates by tens of percent.
BD_METHOD = "pchip"
# Below this overlap of the two curves (the bjontegaard package's own threshold) a BD figure
# extrapolates more than it measures: reported, but marked unreliable.
BD_MIN_OVERLAP = 0.75
COMPRESSAI_SUFFIX = ".compressai.json"  # CompressAI's results format, beside ours


def to_db(ms_ssim_value):
  """MS-SSIM in dB, −10·log10(1 − MS-SSIM): the scale its curves and BD figures use."""
  return float(-10 * np.log10(max(1 - ms_ssim_value, 1e-10)))


def compressai_results(points):
  """The points as CompressAI's results JSON (`compressai.utils.eval_model` / `plot`): one
  curve, named by the first point's label, its means in rate order."""
  points = sorted(points, key=lambda p: p["mean"]["bpp"])
  column = lambda key: [p["mean"][key] for p in points]
  return {"name": points[0]["label"], "description": "tfquant bin/evaluate (files' real bytes)",
          "results": {"bpp": column("bpp"), "psnr-rgb": column("psnr"),
                      "ms-ssim-rgb": column("ms_ssim"),
                      "encoding_time": column("encode_seconds"),
                      "decoding_time": column("decode_seconds")}}


def save_points(points, json_path):
  """Writes the points as JSON, CompressAI's results JSON beside it (`NAME.compressai.json`)
  and one CSV row per image and point (`NAME.csv`), each whole or not at all. Returns the
  CSV's path."""
  data.make_folder(os.path.dirname(os.path.abspath(json_path)))
  files.write_atomically(json_path, json.dumps({"points": points}, indent=2,
                                               sort_keys=True).encode())
  files.write_atomically(os.path.splitext(json_path)[0] + COMPRESSAI_SUFFIX,
                         json.dumps(compressai_results(points), indent=2).encode())
  csv_path = os.path.splitext(json_path)[0] + ".csv"
  fields = ["label", "settings"] + [k for k in points[0]["images"][0]]
  table = io.StringIO(newline="")
  writer = csv.DictWriter(table, fieldnames=fields, extrasaction="ignore")
  writer.writeheader()
  for point in points:
    for row in point["images"]:
      writer.writerow({"label": point["label"], "settings": json.dumps(point["settings"]),
                       **row})
  files.write_atomically(csv_path, table.getvalue().encode())
  return csv_path


def _points_from_compressai(results, json_path):
  """CompressAI's results JSON as points (means only), drawn as reference curves."""
  values = results["results"]
  psnr_key = next((k for k in ("psnr-rgb", "psnr") if k in values), None)
  if "bpp" not in values or psnr_key is None:
    raise ValueError(f"{json_path}: CompressAI results need results.bpp and results.psnr-rgb "
                     f"(or psnr); found {sorted(values)}.")
  ms_ssim_key = next((k for k in ("ms-ssim-rgb", "ms-ssim") if k in values), None)
  ms_ssim_values = values[ms_ssim_key] if ms_ssim_key else [float("nan")] * len(values["bpp"])
  label = results.get("name") or os.path.splitext(os.path.basename(json_path))[0]
  return [{"label": label, "settings": {"baseline": label, "source": "compressai"},
           "mean": {"bpp": float(bpp), "psnr": float(psnr), "ms_ssim": float(quality),
                    "ms_ssim_db": to_db(quality) if quality == quality else float("nan")}}
          for bpp, psnr, quality in zip(values["bpp"], values[psnr_key], ms_ssim_values)]


def load_points(json_path):
  """Points from our results JSON, or from CompressAI's (`{"name", "results": {"bpp",
  "psnr-rgb", "ms-ssim-rgb"}}` as its eval_model writes, or "psnr" and "ms-ssim" as its
  published curves for BPG, VTM and its models have)."""
  with open(json_path) as f:
    try:
      results = json.load(f)
    except json.JSONDecodeError as error:
      raise ValueError(f"{json_path} is not JSON ({error}).") from None
  try:
    if isinstance(results, dict) and "points" in results:
      points = results["points"]
    elif isinstance(results, dict) and isinstance(results.get("results"), dict):
      points = _points_from_compressai(results, json_path)
    else:
      points = None
    if points is not None:
      curves(points)  # every point has a label and numeric means
      return points
  except (TypeError, KeyError, AttributeError, ValueError) as error:
    raise ValueError(f"{json_path}: malformed results ({error})") from None
  raise ValueError(f"{json_path} is neither bin/evaluate's results ({{\"points\": [...]}}) "
                   "nor CompressAI's ({\"name\", \"results\": {\"bpp\", \"psnr-rgb\", "
                   "\"ms-ssim-rgb\"}}).")


def curves(points):
  """{label: [(bpp, psnr, ms_ssim_db), ...] sorted by rate} from result points."""
  grouped = {}
  for point in points:
    mean = point["mean"]
    grouped.setdefault(point["label"], []).append(
        (mean["bpp"], mean["psnr"], mean["ms_ssim_db"]))
  return {label: sorted(values) for label, values in grouped.items()}


def _bd(function, anchor, test, metric):
  column = {"psnr": 1, "ms_ssim_db": 2}[metric]
  if len(anchor) < 2 or len(test) < 2:
    return float("nan")
  if list(anchor) == list(test):
    return 0.0  # by definition, even where a non-monotonic curve leaves BD undefined
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # the package warns on little overlap; NaN tells instead
    try:
      return float(function([p[0] for p in anchor], [p[column] for p in anchor],
                            [p[0] for p in test], [p[column] for p in test]))
    except (ValueError, ZeroDivisionError, AssertionError):  # the package asserts on some
      return float("nan")                                    # non-monotonic curves


def bd_overlap(anchor, test, metric="psnr", kind="rate"):
  """The share of the two curves' joint range they have in common, on the axis a BD figure
  integrates over: quality (`metric`) for BD-rate, log rate for BD-quality."""
  if not anchor or not test:
    return 0.0
  axis = (lambda p: p[{"psnr": 1, "ms_ssim_db": 2}[metric]]) if kind == "rate" else (
      lambda p: math.log10(p[0]))
  a, t = [axis(p) for p in anchor], [axis(p) for p in test]
  total = max(max(a), max(t)) - min(min(a), min(t))
  shared = min(max(a), max(t)) - max(min(a), min(t))
  return max(shared, 0.0) / total if total > 0 else 1.0


def unreliable_mark(overlap):
  """'†' for a BD figure computed on curves that overlap less than `BD_MIN_OVERLAP`, else ''."""
  return "†" if overlap < BD_MIN_OVERLAP else ""


def bd_rate(anchor, test, metric="psnr", method=BD_METHOD):
  """Bjøntegaard-delta rate in % of `test` against `anchor` (negative: fewer bits).

  Curves are [(bpp, psnr, ms_ssim_db)]; PCHIP interpolation (bjontegaard package), or
  `method="linear"`: log rate linear in quality between points, under which a curve whose
  every point is matched by one at no more bits and no less quality never costs more. PCHIP
  reads each point's slope from its neighbours, so moving a point up can raise the rate of the
  interval below it: a saturating top bends the anchor's interpolant flat. NaN where BD is
  undefined: fewer than two points, quality not increasing with rate, no overlap.
  """
  if method == "linear":
    return _bd(_linear_bd_rate, anchor, test, metric)
  return _bd(_bjontegaard("bd_rate", method), anchor, test, metric)


def _linear_bd_rate(anchor_rate, anchor_quality, test_rate, test_quality):
  curves = [(np.asarray(quality, float), np.log(rate)) for rate, quality in
            ((anchor_rate, anchor_quality), (test_rate, test_quality))]
  if any(np.any(np.diff(quality) <= 0) for quality, _ in curves):
    raise ValueError("quality does not increase with rate")
  low = max(quality[0] for quality, _ in curves)
  high = min(quality[-1] for quality, _ in curves)
  if high <= low:
    raise ValueError("the curves do not overlap")
  # Both interpolants bend only at their points: the trapezoid rule on all of them is exact.
  grid = np.unique(np.clip(np.concatenate([quality for quality, _ in curves]), low, high))
  (anchor_q, anchor_log), (test_q, test_log) = curves
  gap = np.interp(grid, test_q, test_log) - np.interp(grid, anchor_q, anchor_log)
  return float(np.expm1(np.trapz(gap, grid) / (high - low)) * 100)


def pareto_front(curve, metric="psnr"):
  """The points of `curve` that no other point matches at no more bits and more quality: the
  rates and qualities a family of models can reach, in rate order."""
  column = {"psnr": 1, "ms_ssim_db": 2}[metric]
  front = []
  for point in sorted(curve, key=lambda point: (point[0], -point[column])):
    if not front or point[column] > front[-1][column]:
      front.append(point)
  return front


def bd_psnr(anchor, test, metric="psnr"):
  """Bjøntegaard-delta quality (dB) of `test` against `anchor` (positive: better)."""
  return _bd(_bjontegaard("bd_psnr", BD_METHOD), anchor, test, metric)


def _bjontegaard(figure, method):
  import bjontegaard
  return functools.partial(getattr(bjontegaard, figure), method=method,
                           require_matching_points=False)


def rd_plot(curve_map, path, title=None, references=None):
  """Writes bpp-vs-PSNR and bpp-vs-MS-SSIM (dB) side by side; PNG or SVG by extension.

  `references` (e.g. JPEG, WebP) are drawn dashed; where they reach far beyond the other curves'
  rates, the view is cut at 1.3× the highest of those so that the curves stay apart.
  """
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  references = references or {}
  colours = plt.get_cmap("tab20" if len(curve_map) + len(references) > 10 else "tab10").colors
  styles = [dict(marker="o", linestyle="-")] * len(curve_map)
  styles += [dict(marker="s", linestyle="--")] * len(references)
  all_curves = {**curve_map, **references}
  max_rate = max((p[0] for points in curve_map.values() for p in points), default=0)
  figure, axes = plt.subplots(1, 2, figsize=(12, 4.8))
  for index, (label, points) in enumerate(all_curves.items()):
    rates = [p[0] for p in points]
    for axis, column in zip(axes, (1, 2)):
      axis.plot(rates, [p[column] for p in points], label=label,
                color=colours[index % len(colours)], **styles[index])
  for axis, column, name in zip(axes, (1, 2), ("PSNR (dB, RGB)", "MS-SSIM (dB)")):
    if references and max_rate:
      _fit_view(axis, all_curves, column, 1.3 * max_rate)
    axis.set_xlabel("bits per pixel (actual files)")
    axis.set_ylabel(name)
    axis.grid(True, alpha=0.3)
  axes[0].legend(fontsize=8)
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  data.make_folder(os.path.dirname(os.path.abspath(path)))
  figure.savefig(path)
  plt.close(figure)
  return path


def _fit_view(axis, curve_map, column, rate_limit):
  """Limits `axis` to rates up to `rate_limit` and the qualities curves reach there."""
  values = []
  for points in curve_map.values():
    rates, qualities = [p[0] for p in points], [p[column] for p in points]
    values += [q for r, q in zip(rates, qualities) if r <= rate_limit]
    if rates[0] <= rate_limit < rates[-1]:
      values.append(float(np.interp(rate_limit, rates, qualities)))
  if values:
    margin = 0.05 * (max(values) - min(values)) or 0.5
    axis.set_xlim(0, rate_limit)
    axis.set_ylim(min(values) - margin, max(values) + margin)
