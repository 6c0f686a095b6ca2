"""Measuring codecs for real: bytes of the actual files, quality of the uint8 reconstructions.

A codec here is anything with `label`, `settings`, `encode(image) -> bytes` and
`decode(bytes) -> image`: a tfquant model (bytes are the `.tfq` container, header included), an
exported SavedModel, or a classical baseline through Pillow (JPEG, WebP, JPEG 2000). Results
are "points" (one codec setting over a set of images) saved as JSON with a CSV beside it; RD
curves are the points that share a label, compared by BD-rate and plotted.
"""

import contextlib
import csv
import io
import itertools
import json
import math
import os
import sys
import time
import warnings

import numpy as np
import tensorflow as tf
from PIL import Image, features

from tfquant import coding, data, files, refine
from tfquant.train import strategy

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# PCHIP (the JCT-VC CTC sheet's choice) keeps each interpolant between its points; on 3-point
# curves that flatten, Akima and cubic splines overshoot and swing BD-rates by tens of percent.
BD_METHOD = "pchip"
# Below this overlap of the two curves (the bjontegaard package's own threshold) a BD figure
# extrapolates more than it measures: reported, but marked unreliable.
BD_MIN_OVERLAP = 0.75
PSNR_CAP_DB = 100.0  # what an exact reconstruction scores (see `psnr`)
COMPRESSAI_SUFFIX = ".compressai.json"  # CompressAI's results format, beside ours
UNFINISHED_SUFFIX = ".unfinished.json"  # the point being measured (`Results`)


def psnr(image, reconstruction, max_value=255.0):
  """PSNR in dB over all RGB values of two uint8 images, at most PSNR_CAP_DB.

  An exact reconstruction (JPEG at high quality manages it on some images) would be +inf and
  make every mean, plot and BD figure that includes it +inf: the MSE is floored at
  max²·10^(−PSNR_CAP_DB/10) instead, one rule for all of them.
  """
  diff = np.asarray(image, np.float64) - np.asarray(reconstruction, np.float64)
  mse = max(float(np.mean(diff**2)), max_value**2 * 10 ** (-PSNR_CAP_DB / 10))
  return float(10 * np.log10(max_value**2 / mse))


def ms_ssim(image, reconstruction):
  """RGB MS-SSIM (Wang et al. 2003, 11×11 Gaussian window) of two uint8 images.

  Uses as many of the 5 scales as the image allows (each must be ≥ 11 pixels), with the
  standard weights renormalized; NaN for images under 11 pixels.
  """
  side = min(image.shape[:2])
  scales = min(5, int(math.floor(math.log2(side / 11))) + 1) if side >= 11 else 0
  if scales < 1:
    return float("nan")
  weights = np.array(MS_SSIM_WEIGHTS[:scales]) / sum(MS_SSIM_WEIGHTS[:scales])
  value = tf.image.ssim_multiscale(tf.constant(image, tf.float32)[None],
                                   tf.constant(reconstruction, tf.float32)[None], 255.0,
                                   power_factors=weights.tolist())
  return float(value[0])


def to_db(ms_ssim_value):
  return float(-10 * np.log10(max(1 - ms_ssim_value, 1e-10)))


def log_spaced(low, high, count):
  """`count` λ spaced evenly in log λ from `low` to `high`, both included."""
  return [low * (high / low) ** (i / max(count - 1, 1)) for i in range(count)]


class ModelCodec:
  """A tfquant model: `.tfq` bytes; can also report the model's own rate estimate. A
  variable-rate model codes at `lmbda` (the settings record the λ its files record); with
  `refine` steps, the encoder searches for each image's latent (`refine`)."""

  def __init__(self, model, label=None, coder=coding.coders.DEFAULT, lmbda=None, refine=0,
               refine_precision="auto"):
    self.model = model
    self.identifier = model.identifier()
    self.coder = coder
    self.lmbda = None  # a variable-rate model's: the λ its files record
    self.refine = int(refine)
    self.refine_precision = strategy.resolve_precision(refine_precision)
    self.label = label or f"{model.arch} {self.identifier['quant']}" + (
        " variable-rate" if model.variable_rate else "") + (
            f" refined ×{self.refine}" if self.refine else "")
    self.settings = dict(self.identifier, coder=coder)
    if self.refine:
      self.settings.update(refine=self.refine, refine_precision=self.refine_precision)
    if lmbda is not None:
      code = model.rate_code(lmbda)
      self.lmbda = float(model.quantization_step.lmbda(code))
      self.settings.update(lmbda=float(f"{self.lmbda:.6g}"), rate_code=code)

  @classmethod
  def at_rates(cls, model, rates=6, **kwargs):
    """One codec per rate of a variable-rate model: `rates` λ values, or a count of λ spaced
    evenly in log λ over its range (ends included); a fixed-rate model's one codec."""
    if not model.variable_rate:
      return [cls(model, **kwargs)]
    if isinstance(rates, int):
      rates = log_spaced(*model.lmbda, rates)
    return [cls(model, lmbda=lmbda, **kwargs) for lmbda in rates]

  def encode(self, image):
    latent = refine.refined_latent(self.model, image, self.refine, self.lmbda,
                                   precision=self.refine_precision)[0] if self.refine else None
    return coding.encode(self.model, image, self.identifier, coder=self.coder, lmbda=self.lmbda,
                         latent=latent)

  def decode(self, payload):
    return coding.decode(self.model, payload, self.identifier)

  def estimated_bpp(self, image):
    x = tf.constant(image[None], tf.float32) / 255.0
    return float(self.model(x, training=False, lmbda=self.lmbda)["bpp"])


class SavedModelCodec:
  """An exported SavedModel (see tfquant.export), through its signatures."""

  def __init__(self, path, label=None):
    self.loaded = tf.saved_model.load(path)
    self.label = label or f"savedmodel {os.path.basename(os.path.normpath(path))}"
    self.settings = {"path": os.path.abspath(path)}
    try:  # tells a re-export to the same path apart (`Results`)
      self.settings["checksum"] = str(
          tf.saved_model.experimental.read_fingerprint(path).saved_model_checksum)
    except (tf.errors.NotFoundError, FileNotFoundError):  # exported before TF wrote one
      pass

  def encode(self, image):
    return self.loaded.signatures["compress"](image=tf.constant(image))["bitstream_bytes"].numpy()

  def decode(self, payload):
    return self.loaded.signatures["decompress"](
        bitstream_bytes=tf.constant(payload))["image"].numpy()


class PillowCodec:
  """A classical codec at one setting: JPEG/WebP quality, or a JPEG 2000 compression ratio."""

  FORMATS = {"jpeg": ("JPEG", "JPEG"), "webp": ("WEBP", "WebP"), "jpeg2000": ("JPEG2000",
                                                                             "JPEG 2000")}
  DEFAULT_QUALITIES = {"jpeg": (5, 10, 20, 30, 50, 70, 85, 95),
                       "webp": (5, 10, 20, 30, 50, 70, 85, 95),
                       "jpeg2000": (200, 120, 80, 50, 30, 20, 12, 8)}

  def __init__(self, name, quality):
    if name not in self.FORMATS:
      raise ValueError(f"Unknown baseline {name!r}; choose from {sorted(self.FORMATS)}.")
    if name == "jpeg2000" and not features.check("jpg_2000"):
      raise ValueError("This Pillow has no JPEG 2000 support (OpenJPEG).")
    if name == "webp" and not features.check("webp"):
      raise ValueError("This Pillow has no WebP support.")
    if name == "jpeg2000" and not quality >= 1:
      raise ValueError(f"A JPEG 2000 compression ratio is at least 1, got {quality}.")
    if name != "jpeg2000" and not 0 <= quality <= 100:
      raise ValueError(f"A {self.FORMATS[name][1]} quality is 0 to 100, got {quality}.")
    self.name, self.quality = name, quality
    self.label = self.FORMATS[name][1]
    self.settings = {"baseline": name, "quality": quality}

  def encode(self, image):
    buffer = io.BytesIO()
    options = ({"quality_mode": "rates", "quality_layers": [self.quality]}
               if self.name == "jpeg2000" else {"quality": int(self.quality)})
    if self.name == "jpeg":
      options["subsampling"] = "4:2:0"
    Image.fromarray(image).save(buffer, format=self.FORMATS[self.name][0], **options)
    return buffer.getvalue()

  def decode(self, payload):
    with Image.open(io.BytesIO(payload)) as decoded:
      return np.asarray(decoded.convert("RGB"), np.uint8)


def measure(codec, image, estimate=False):
  """Codes one image for real. Returns (metrics dict, reconstruction)."""
  pixels = image.shape[0] * image.shape[1]
  start = time.perf_counter()
  payload = codec.encode(image)
  encode_seconds = time.perf_counter() - start
  start = time.perf_counter()
  reconstruction = codec.decode(payload)
  decode_seconds = time.perf_counter() - start
  quality = ms_ssim(image, reconstruction)
  row = {"bytes": len(payload), "bpp": 8 * len(payload) / pixels,
         "psnr": psnr(image, reconstruction), "ms_ssim": quality, "ms_ssim_db": to_db(quality),
         "encode_seconds": encode_seconds, "decode_seconds": decode_seconds}
  if estimate:
    row["estimated_bpp"] = codec.estimated_bpp(image)
  return row, reconstruction


def terminal_progress(label):
  """A `progress` for `evaluate`: images done and time left, on a terminal only. Its first call
  (before any image is coded) counts the images an earlier evaluation measured."""
  if not sys.stderr.isatty():
    return None
  start = {}

  def show(done, total):
    if not start:
      start.update(time=time.perf_counter(), done=done)
    elapsed, coded = time.perf_counter() - start["time"], done - start["done"]
    left = f", about {elapsed / coded * (total - done):.0f} s left" if coded else ""
    print(f"\r{label}: {done}/{total} images, {elapsed:.0f} s{left}",
          end="\n" if done == total else "", file=sys.stderr, flush=True)

  return show


def evaluate(codec, paths, estimate=False, reconstructions_dir=None, progress=None,
             measured=(), checkpoint=None):
  """One RD point: every image coded for real, per-image rows and their means.

  `measured`: the rows of the first images that an earlier, stopped evaluation coded
  (`Results.measured`), kept and not coded again. `progress(done, total)` is called before
  the first image and after each; `checkpoint(point)` after each image with the point so far.
  """
  rows = list(measured)
  if progress:
    progress(len(rows), len(paths))
  if paths[len(rows):]:  # code a crop once first: a model's first call traces its graphs
    codec.decode(codec.encode(data.read_image(paths[0])[:64, :64]))
  for path in paths[len(rows):]:
    image = data.read_image(path)
    row, reconstruction = measure(codec, image, estimate)
    rows.append({"image": os.path.basename(path), "height": image.shape[0],
                 "width": image.shape[1], **row})
    if reconstructions_dir:
      data.make_folder(reconstructions_dir)
      data.write_png(os.path.join(reconstructions_dir, os.path.basename(path)), reconstruction)
    if checkpoint:
      checkpoint(_point(codec, rows))
    if progress:
      progress(len(rows), len(paths))
  return _point(codec, rows)


def _point(codec, rows):
  numeric = [k for k, v in rows[0].items() if isinstance(v, float)]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # MS-SSIM is NaN for tiny images
    mean = {k: float(np.nanmean([r[k] for r in rows])) for k in numeric}
  return {"label": codec.label, "settings": codec.settings, "mean": mean, "images": rows}


@contextlib.contextmanager
def results_file(json_path, resume=False):
  """A `Results` for `json_path`, which no other evaluation writes while it is open
  (`data.exclusive`); when it closes without an error, the file holds the points added (if
  any were)."""
  folder, name = os.path.split(os.path.abspath(json_path))
  data.make_folder(folder)
  with data.exclusive(os.path.join(folder, f".{name}.lock"), lambda holder: (
      f"{json_path} is being written by another evaluation (pid {holder}); wait for it or "
      "choose another --out.")):
    results = Results(json_path, resume)
    yield results
    if results.kept and results.points:  # earlier points none of this evaluation's made
      save_points(results.points, json_path)


class Results:
  """A results file (`save_points`) written as an evaluation goes, so that a stopped one
  resumes where it stopped: the file holds the finished points, rewritten after each, and
  NAME.unfinished.json the point being measured, rewritten after each image. Open it with
  `results_file`."""

  def __init__(self, json_path, resume=False):
    self.json_path = json_path
    self.unfinished_path = os.path.splitext(json_path)[0] + UNFINISHED_SUFFIX
    self.points = []
    stopped = os.path.exists(self.unfinished_path)
    if stopped and not resume:
      raise ValueError(f"{self.unfinished_path} holds an evaluation that stopped before it "
                       "ended: --resume continues it, or remove that file to start over.")
    # A stopped evaluation's finished points stay in the file until this one adds their
    # like, so that a stop now loses none of them.
    self.kept = _measured_points(json_path) if resume and os.path.exists(json_path) else []
    self.earlier = self.kept + (_measured_points(self.unfinished_path) if resume and stopped
                                else [])
    self.csv_path = None  # `save_points`' CSV, once a point is added

  def measured(self, codec, paths, estimate=False, reconstructions_dir=None):
    """The rows an earlier evaluation measured of `codec`'s point (same label and settings)
    on the first of `paths`, alike in whether they hold the model's estimate; with
    `reconstructions_dir`, up to the first whose reconstruction is not there."""
    names = [os.path.basename(p) for p in paths]
    for point in self.earlier:
      rows = point["images"]
      if (_codec_key(point["label"], point["settings"]) ==
          _codec_key(codec.label, codec.settings) and
          [r["image"] for r in rows] == names[:len(rows)] and
          all(("estimated_bpp" in r) == bool(estimate) for r in rows)):
        return list(itertools.takewhile(lambda row: not reconstructions_dir or os.path.exists(
            os.path.join(reconstructions_dir, row["image"])), rows))
    return []

  def save_unfinished(self, point):
    files.write_atomically(self.unfinished_path,
                           json.dumps({"points": [point]}, indent=2).encode())

  def add(self, point):
    """Saves a finished point with those before it; the unfinished file goes."""
    self.points.append(point)
    key = _codec_key(point["label"], point["settings"])
    self.kept = [p for p in self.kept if _codec_key(p["label"], p["settings"]) != key]
    self.csv_path = save_points(self.points + self.kept, self.json_path)
    if os.path.exists(self.unfinished_path):
      os.remove(self.unfinished_path)


def _codec_key(label, settings):
  """What tells the codecs of two points apart: the label and the settings."""
  return label, json.dumps(settings, sort_keys=True)


def _measured_points(json_path):
  """A results file's points, each with its per-image rows (what a resumed evaluation reuses;
  one ValueError if the file is not such)."""
  points = load_points(json_path)
  for point in points:
    rows = point.get("images")
    if not (isinstance(rows, list) and rows and all(
        isinstance(r, dict) and isinstance(r.get("image"), str) for r in rows) and
            isinstance(point.get("settings"), dict)):
      raise ValueError(f"{json_path}: a point without its per-image rows; an evaluation "
                       "resumes only from bin/evaluate's own results.")
  return points


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
                            [p[0] for p in test], [p[column] for p in test],
                            method=BD_METHOD, require_matching_points=False))
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


def bd_rate(anchor, test, metric="psnr"):
  """Bjøntegaard-delta rate in % of `test` against `anchor` (negative: fewer bits).

  Curves are [(bpp, psnr, ms_ssim_db)]; PCHIP interpolation (bjontegaard package). NaN where
  BD is undefined: fewer than two points, quality not increasing with rate, no overlap.
  """
  import bjontegaard
  return _bd(bjontegaard.bd_rate, anchor, test, metric)


def bd_psnr(anchor, test, metric="psnr"):
  """Bjøntegaard-delta quality (dB) of `test` against `anchor` (positive: better)."""
  import bjontegaard
  return _bd(bjontegaard.bd_psnr, anchor, test, metric)


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
