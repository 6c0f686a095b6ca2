"""Measuring codecs for real: bytes of the actual files, quality of the uint8 reconstructions.

A codec here is anything with `label`, `settings`, `encode(image) -> bytes` and
`decode(bytes) -> image`: a tfquant model (bytes are the `.tfq` container, header included), an
exported SavedModel, or a classical baseline through Pillow (JPEG, WebP, JPEG 2000). Results
are "points" (one codec setting over a set of images), written as an evaluation goes into a
results file (`rd_curves`), from which a stopped evaluation resumes.
"""

import contextlib
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

from tfquant import coding, data, files, rd_curves, refine
from tfquant.train import strategy

MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
PSNR_CAP_DB = 100.0  # what an exact reconstruction scores (see `psnr`)
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
         "psnr": psnr(image, reconstruction), "ms_ssim": quality,
         "ms_ssim_db": rd_curves.to_db(quality),
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
      rd_curves.save_points(results.points, json_path)


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
    self.csv_path = rd_curves.save_points(self.points + self.kept, self.json_path)
    if os.path.exists(self.unfinished_path):
      os.remove(self.unfinished_path)


def _codec_key(label, settings):
  """What tells the codecs of two points apart: the label and the settings."""
  return label, json.dumps(settings, sort_keys=True)


def _measured_points(json_path):
  """A results file's points, each with its per-image rows (what a resumed evaluation reuses;
  one ValueError if the file is not such)."""
  points = rd_curves.load_points(json_path)
  for point in points:
    rows = point.get("images")
    if not (isinstance(rows, list) and rows and all(
        isinstance(r, dict) and isinstance(r.get("image"), str) for r in rows) and
            isinstance(point.get("settings"), dict)):
      raise ValueError(f"{json_path}: a point without its per-image rows; an evaluation "
                       "resumes only from bin/evaluate's own results.")
  return points
