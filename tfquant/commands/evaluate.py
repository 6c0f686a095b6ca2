"""Code a folder of images for real and measure bpp (actual bytes), PSNR, MS-SSIM and time.

  bin/evaluate --model=RUN_OR_SAVEDMODEL [--model=...] --images=DIR --out=results.json
               [--label=NAME] [--estimate] [--coder=tfc|tf] [--refine=STEPS] [--resume]
  bin/evaluate --baseline=jpeg [--qualities=10,30,50] --images=DIR --out=jpeg.json
  bin/evaluate --plot=rd.png a.json b.json ...      # RD plot + BD-rate table vs the first

Writes JSON, the same curve in CompressAI's results format (NAME.compressai.json) and a CSV
(one row per image) beside it; several --model (say, one per λ) are the points of one file, as
CompressAI's `eval_model checkpoint -p A B`. --plot reads both formats, e.g. CompressAI's
published curves. On a terminal each point shows its progress per image.

The files are written as the evaluation goes (NAME.unfinished.json holds the point being
measured), so one that is stopped (killed, out of time) continues with the same command and
--resume, coding only what is missing.
"""

import os
import sys

from absl import app, flags

from tfquant import commands
from tfquant.coding import coders

flags.DEFINE_multi_string("model", None, "Training run (or its best/, checkpoints/ckpt-N), "
                          "saved model, zoo:NAME, or exported SavedModel dir; zoo: is every "
                          "zoo model, zoo:PATTERN those it matches; repeatable: every model is "
                          "a point of the same results file.")
flags.DEFINE_string("label", None, "The curve's name in the results (default: the "
                    "architecture and quantizer pair, or the baseline's name); points with "
                    "the same label form one curve.")
flags.DEFINE_enum("baseline", None, ["jpeg", "webp", "jpeg2000"], "A Pillow codec to measure.")
flags.DEFINE_list("qualities", None, "Baseline settings (JPEG 2000: compression ratios).")
flags.DEFINE_string("images", None, "Image folder (default: Kodak where present, else samples).")
flags.DEFINE_string("out", None, "Results JSON path.")
flags.DEFINE_boolean("estimate", False, "Also report the model's likelihood bpp.")
flags.DEFINE_string("reconstructions", None, "Folder for the decoded images.")
flags.DEFINE_string("plot", None, "Plot the given result files into this PNG/SVG.")
flags.DEFINE_enum("coder", coders.DEFAULT, coders.NAMES, "Entropy coder for a tfquant model: tfc "
                  "(tensorflow-compression's range coder) or tf (pure-TF rANS).")
flags.DEFINE_list("rates", None, "A variable-rate model's λ values, or how many spaced evenly "
                  "in log λ over its range (default 6); one RD curve.")
flags.DEFINE_boolean("resume", False, "Continue an evaluation into --out that stopped: the "
                     "points and images it measured of these codecs on these images are "
                     "kept, not coded again.")
flags.DEFINE_integer("refine", 0, "A tfquant model's encoder searches each image's latent "
                     "for this many steps (tfquant.refine; 0: the analysis transform's own).",
                     lower_bound=0)
flags.DEFINE_enum("refine_precision", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "--refine's search precision (auto: mixed_bfloat16 where the CPU has it "
                  "natively, ~2× faster; the latent is chosen in float32).")
FLAGS = flags.FLAGS


def codecs():
  from tfquant import evaluate, train
  found = _codecs(evaluate, train)
  for codec in found:
    codec.label = FLAGS.label or codec.label
  return found


def _codecs(evaluate, train):
  if FLAGS.baseline:
    if FLAGS["qualities"].present and not FLAGS.qualities:
      raise app.UsageError("--qualities is empty: give settings separated by commas, or leave "
                           "it out for the defaults")
    qualities = FLAGS.qualities or evaluate.PillowCodec.DEFAULT_QUALITIES.get(FLAGS.baseline, ())
    kind = float if FLAGS.baseline == "jpeg2000" else int
    try:
      qualities = [kind(q) for q in qualities]
    except ValueError:
      raise app.UsageError(f"--qualities takes {'numbers' if kind is float else 'integers'} "
                           f"separated by commas, got {','.join(FLAGS.qualities)!r}") from None
    return [evaluate.PillowCodec(FLAGS.baseline, q) for q in qualities]
  rates = _rates()
  found = []
  for path in model_specs():
    if os.path.exists(os.path.join(path, "saved_model.pb")):
      if FLAGS.refine:
        raise app.UsageError(f"--refine searches with a tfquant model's own layers; {path} is "
                             "an exported SavedModel")
      found.append(evaluate.SavedModelCodec(path))
    else:
      found += evaluate.ModelCodec.at_rates(train.load_model(path), rates, coder=FLAGS.coder,
                                            refine=FLAGS.refine,
                                            refine_precision=FLAGS.refine_precision)
  return found


def _rates():
  """--rates: a count (one integer) or λ values."""
  values = FLAGS.rates or ["6"]
  try:
    if len(values) == 1 and values[0].isdigit() and int(values[0]) >= 1:
      return int(values[0])
    return [float(v) for v in values]
  except ValueError:
    raise app.UsageError(f"--rates takes a count or λ values separated by commas, got "
                         f"{','.join(values)!r}") from None


def model_specs():
  """--model's values, each zoo pattern replaced by the zoo models it names."""
  from tfquant import zoo
  return [name for spec in FLAGS.model for name in (
      zoo.expand(spec) if spec.startswith(zoo.PREFIX) else [spec])]


def plot(paths):
  from tfquant import rd_curves
  points = [p for path in paths for p in rd_curves.load_points(path)]
  curves = rd_curves.curves(points)
  baselines = {p["label"] for p in points if "baseline" in p["settings"]}
  rd_curves.rd_plot({k: v for k, v in curves.items() if k not in baselines}, FLAGS.plot,
                   references={k: v for k, v in curves.items() if k in baselines})
  anchor_label, anchor = next(iter(curves.items()))
  print(f"{'curve':<28}{'BD-rate PSNR %':>16}{'overlap':>9}{'BD-rate MS-SSIM %':>19}"
        f"{'overlap':>9}  (vs {anchor_label})")
  for label, curve in curves.items():
    cells = ""
    for metric in ("psnr", "ms_ssim_db"):
      overlap = rd_curves.bd_overlap(anchor, curve, metric)
      mark = rd_curves.unreliable_mark(overlap) or " "
      cells += f"{rd_curves.bd_rate(anchor, curve, metric):>15.2f}{mark}{overlap:>9.0%}"
    print(f"{label:<28}{cells}")
  print(f"† the curves overlap less than {rd_curves.BD_MIN_OVERLAP:.0%}: unreliable.")
  print(f"Plot: {FLAGS.plot}")


def report(codec, point, resumed):
  mean = point["mean"]
  estimated = f"  (estimated {mean['estimated_bpp']:.4f})" if "estimated_bpp" in mean else ""
  setting = (f"quality {codec.settings['quality']}" if "quality" in codec.settings else
             f"λ={codec.settings['lmbda']}" if "lmbda" in codec.settings else "")
  earlier = f"  ({resumed} images measured before)" if resumed else ""
  print(f"{codec.label} {setting}: bpp {mean['bpp']:.4f}"
        f"{estimated}  PSNR {mean['psnr']:.2f} dB  MS-SSIM {mean['ms_ssim_db']:.2f} dB  "
        f"enc {mean['encode_seconds']:.3f}s  dec {mean['decode_seconds']:.3f}s{earlier}")


def main(argv):
  import tensorflow as tf
  try:
    if FLAGS.plot:
      if len(argv) < 2:
        raise app.UsageError("--plot needs result JSON files as arguments.")
      if not FLAGS.plot.lower().endswith((".png", ".svg", ".pdf")):
        raise app.UsageError(f"--plot writes .png, .svg or .pdf, not {FLAGS.plot!r}")
      return plot(argv[1:])
    if len(argv) > 1:
      raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if bool(FLAGS.model) == bool(FLAGS.baseline) or not FLAGS.out:
      raise app.UsageError("Give --out and exactly one of --model and --baseline.")
    if FLAGS.refine and FLAGS.baseline:
      raise app.UsageError("--refine is a tfquant model's encoder search, not a baseline's")
    if FLAGS["refine_precision"].present and not FLAGS.refine:
      raise app.UsageError("--refine_precision is --refine's: give both")
    specs = model_specs() if FLAGS.model else []
    repeated = sorted({m for m in specs if specs.count(m) > 1})
    if repeated:
      raise app.UsageError(f"--model={repeated[0]} is given more than once")
    from tfquant import data, evaluate, rd_curves
    paths = data.image_paths(FLAGS.images or data.shared_dir("kodak") or data.sample_dir())
    with evaluate.results_file(FLAGS.out, resume=FLAGS.resume) as results:  # before any coding
      for codec in codecs():
        estimate = bool(FLAGS.estimate and isinstance(codec, evaluate.ModelCodec))
        measured = results.measured(codec, paths, estimate, FLAGS.reconstructions)
        point = evaluate.evaluate(codec, paths, estimate=estimate,
                                  reconstructions_dir=FLAGS.reconstructions,
                                  progress=evaluate.terminal_progress(codec.label),
                                  measured=measured, checkpoint=results.save_unfinished)
        results.add(point)
        report(codec, point, len(measured))
    compressai = os.path.splitext(FLAGS.out)[0] + rd_curves.COMPRESSAI_SUFFIX
    print(f"Wrote {FLAGS.out}, {results.csv_path} and {compressai} (CompressAI's format)")
  except tf.errors.ResourceExhaustedError:
    sys.exit("error: out of memory while coding; use smaller images or more memory.")
  except tf.errors.OpError as error:
    sys.exit(f"error: TensorFlow failed: {error.message.strip().splitlines()[0]}")


def run():
  commands.run(main, errors=(ValueError, OSError, RuntimeError), arguments=True)


if __name__ == "__main__":
  run()
