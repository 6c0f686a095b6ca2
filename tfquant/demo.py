"""`make demo`: the model zoo against JPEG on real files, then the library's point in a minute.

  python -m tfquant.demo [--model=zoo:balle2018-mse-0.01] [--finetune_steps=150] [--out=demo_out]

1. Codes the embedded sample images and one Kodak-sized image (Kodak's first, where
   ../shared/data/kodak is present) into .tfq files with a shipped model, and prints real
   bpp / PSNR / MS-SSIM beside Pillow's JPEG at the same rate (the largest file no bigger).
2. Measures every zoo family, JPEG and WebP over those images: an RD plot and BD-rates;
   then draws the families' Kodak curves (from their cards) beside JPEG, WebP, BPG 4:4:4 and
   CompressAI's published models (`zoo.references()`), with BD-rates.
3. Codes the Kodak-sized image with one variable-rate zoo model at nine rates: a table and
   rate_slider/index.html, whose slider steps through the decoded images.
4. Fine-tunes the model briefly with U-Q for the entropy model and DS-Q for the decoder (the
   study's general choice) and codes the images again.
"""

import html
import json
import os

from tfquant import commands  # first: it quiets TensorFlow's start-up (see its docstring)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from tfquant import data, evaluate, models, rd_curves, train, zoo  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "zoo:balle2018-mse-0.01", "The model to show (any --model form).")
flags.DEFINE_integer("finetune_steps", 150, "U-Q/DS-Q fine-tune steps (0: none).")
flags.DEFINE_string("images", None, "Image folder (default: the samples and one Kodak image).")
flags.DEFINE_string("out", "demo_out", "Where results, the plot and reconstructions go.")



def demo_images():
  if FLAGS.images:
    return data.image_paths(FLAGS.images)
  kodak = data.shared_dir("kodak")
  return data.image_paths(data.sample_dir()) + (data.image_paths(kodak)[:1] if kodak else [])


def jpeg_at_rate(image, max_bytes):
  """Pillow JPEG's largest file no bigger than `max_bytes` (bisecting the quality, over
  which sizes grow): (quality, metrics), or None if even quality 1 is bigger."""
  size = lambda quality: len(evaluate.PillowCodec("jpeg", quality).encode(image))
  low, high = 1, 95
  if size(low) > max_bytes:
    return None
  while low < high:
    middle = (low + high + 1) // 2
    low, high = (middle, high) if size(middle) <= max_bytes else (low, middle - 1)
  return low, evaluate.measure(evaluate.PillowCodec("jpeg", low), image)[0]


def side_by_side(model, paths, out):
  """Codes each image with `model` and JPEG at the same rate; prints and returns the mean
  PSNR gain over JPEG."""
  print(f"\n{'image':<14}{'size':>10}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}   "
        f"{'JPEG q':>6}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}")
  os.makedirs(out, exist_ok=True)
  codec, gains = evaluate.ModelCodec(model), []
  for path in paths:
    image = data.read_image(path)
    row, reconstruction = evaluate.measure(codec, image)
    data.write_png(os.path.join(out, os.path.basename(path)), reconstruction)
    jpeg = jpeg_at_rate(image, row["bytes"])
    cells = (f"{jpeg[0]:>6}{jpeg[1]['bpp']:>8.3f}{jpeg[1]['psnr']:>8.2f}"
             f"{jpeg[1]['ms_ssim_db']:>9.2f}" if jpeg else f"{'(none this small)':>31}")
    if jpeg:
      gains.append(row["psnr"] - jpeg[1]["psnr"])
    print(f"{os.path.basename(path):<14}{image.shape[1]}x{image.shape[0]:<5}{row['bpp']:>8.3f}"
          f"{row['psnr']:>8.2f}{row['ms_ssim_db']:>9.2f}   {cells}")
  print(f"(dB; MS-SSIM as −10·log10(1 − MS-SSIM); bpp counts every byte of the files.) "
        f"Mean PSNR gain over JPEG at the same rate: {np.mean(gains):+.2f} dB")
  return float(np.mean(gains))


def zoo_curves(paths, out):
  """Every zoo family, JPEG and WebP over `paths`: RD plot and each family's BD-rate against
  both."""
  families = {"zoo " + family: names for family, names in zoo.families().items()}
  points = [evaluate.evaluate(codec, paths) for family, names in families.items()
            for name in names for codec in evaluate.ModelCodec.at_rates(
                models.load(zoo.PREFIX + name), 5, label=family)]
  baselines = {"jpeg": (10, 20, 30, 50, 70, 85), "webp": (10, 30, 50, 70, 90)}
  points += [evaluate.evaluate(evaluate.PillowCodec(codec, q), paths)
             for codec, qualities in baselines.items() for q in qualities]
  rd_curves.save_points(points, os.path.join(out, "results.json"))
  curves = rd_curves.curves(points)
  rd_curves.rd_plot({family: curves[family] for family in families}, os.path.join(out, "rd.png"),
                   references={"JPEG": curves["JPEG"], "WebP": curves["WebP"]})
  print("\nZoo families on these images, BD-rate (PSNR; negative: fewer bits):")
  for family in families:
    print(f"  {family:<22} vs JPEG {rd_curves.bd_rate(curves['JPEG'], curves[family]):+6.1f}%   "
          f"vs WebP {rd_curves.bd_rate(curves['WebP'], curves[family]):+6.1f}%")
  print(f"Plot: {os.path.join(out, 'rd.png')}")


def kodak_curves(out):
  """Every zoo family on the 24 Kodak images (its cards' figures, measured on real files when
  the entries were made) beside the reference curves of `zoo.references()`: a plot, and each
  family's BD-rate against each reference."""
  families = {"zoo " + family: zoo.kodak_curve(names) for family, names in zoo.families().items()}
  references = zoo.references()
  path = os.path.join(out, "rd_kodak.png")
  rd_curves.rd_plot(families, path, title="Kodak (24 images)", references=references)
  print("\nZoo families on Kodak (their cards), BD-rate in PSNR against each reference "
        "(† under 75% overlap):")
  for family, curve in families.items():
    print(f"  {family}")
    for label, reference in references.items():
      mark = rd_curves.unreliable_mark(rd_curves.bd_overlap(reference, curve))
      print(f"    vs {label:<46} {rd_curves.bd_rate(reference, curve):+7.1f}%{mark}")
  print(f"Plot: {path}")
  print("\nWhere each family has been: BD-rate against WebP after its first training and after "
        "each chunk that replaced entries (bin/zoo --history)")
  for row in zoo.progress_rows("WebP"):
    print(f"  {row['family']:<16}{row['date'] or 'first run':<12}{row['steps']:>7} steps "
          f"{row['cpu_hours']:>6.1f} CPU-hours {row['bd_rate']:+7.1f}%"
          f"{rd_curves.unreliable_mark(row['overlap'])}")


_SLIDER_PAGE = """<!doctype html>
<meta charset="utf-8"><title>{title}</title>
<h3>{title}</h3>
<p><input id="rate" type="range" min="0" max="{last}" value="{middle}" style="width:40em"></p>
<p id="label"></p>
<img id="image">
<script>
const rates = {rates};
const rate = document.getElementById("rate");
function show() {{
  const r = rates[rate.value];
  document.getElementById("image").src = r.file;
  document.getElementById("label").textContent =
    `λ = ${{r.lmbda.toPrecision(3)}}: ${{r.bytes}} bytes, ${{r.bpp.toFixed(3)}} bpp, ` +
    `PSNR ${{r.psnr.toFixed(2)}} dB, MS-SSIM ${{r.ms_ssim_db.toFixed(2)}} dB`;
}}
rate.oninput = show;
show();
</script>
"""


def rate_slider(model, path, out, rates=9):
  """Codes one image with a variable-rate model at `rates` λ spaced evenly in log λ: prints
  a table, writes each decoded image and an index.html whose slider steps through them.
  Returns the rows."""
  image, rows = data.read_image(path), []
  os.makedirs(out, exist_ok=True)
  print(f"\nOne variable-rate model, {os.path.basename(path)} at {rates} rates:\n"
        f"{'λ':>9}{'bytes':>8}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}")
  for index, codec in enumerate(evaluate.ModelCodec.at_rates(model, rates)):
    row, reconstruction = evaluate.measure(codec, image)
    row.update(lmbda=codec.lmbda, file=f"{index:02d}.png")
    data.write_png(os.path.join(out, row["file"]), reconstruction)
    rows.append(row)
    print(f"{codec.lmbda:>9.5f}{row['bytes']:>8}{row['bpp']:>8.3f}{row['psnr']:>8.2f}"
          f"{row['ms_ssim_db']:>9.2f}")
  title = html.escape(f"{os.path.basename(path)}: one model, {rates} rates")
  page = _SLIDER_PAGE.format(title=title, last=len(rows) - 1, middle=len(rows) // 2,
                             rates=json.dumps(rows))
  with open(os.path.join(out, "index.html"), "w") as f:
    f.write(page)
  print(f"Slider: {os.path.join(out, 'index.html')}")
  return rows


def finetune(model, paths, steps):
  """The same weights, retrained with U-Q (rate) and DS-Q (decoder) for `steps` steps."""
  options = dict(model.get_config(), ent_quant="universal", dec_quant="dsq")
  options.pop("z_ent_quant", None)
  options.pop("z_dec_quant", None)
  tuned = models.create(model.arch, **options)
  for target, source in zip(tuned.trainable_variables, model.trainable_variables):
    target.assign(source)
  dataset = data.patch_dataset(paths, 128, 4, seed=0)
  history = train.fit(tuned, dataset, steps, learning_rate=1e-5)
  print(f"\nFine-tuned with U-Q for the rate and DS-Q for the decoder: {steps} steps, loss "
        f"{history[0]['loss']:.3f} → {np.mean([h['loss'] for h in history[-10:]]):.3f}")
  tuned.finalize()
  return tuned


def main(argv):
  del argv
  tf.random.set_seed(0)
  os.makedirs(FLAGS.out, exist_ok=True)
  paths = demo_images()
  model = train.load_model(FLAGS.model)
  print(f"{FLAGS.model}: {model.arch}, λ={model.lmbda}, quantizers "
        f"{evaluate.ModelCodec(model).identifier['quant']}")
  side_by_side(model, paths, FLAGS.out)
  zoo_curves(paths, FLAGS.out)
  kodak_curves(FLAGS.out)
  variable_rate = {name: zoo.card(name)["config"] for name in zoo.names()
                   if zoo.variable_rate(name)}
  if variable_rate:  # the one of the widest range
    widest = max(variable_rate, key=lambda name: variable_rate[name]["lmbda_max"]
                 / variable_rate[name]["lmbda"])
    rate_slider(models.load(zoo.PREFIX + widest), paths[-1],
                os.path.join(FLAGS.out, "rate_slider"))
  if FLAGS.finetune_steps:
    tuned = finetune(model, data.image_paths(data.sample_dir()), FLAGS.finetune_steps)
    side_by_side(tuned, paths, os.path.join(FLAGS.out, "finetuned"))
  print(f"\nResults (ours and CompressAI's JSON, CSV), rd.png and reconstructions: {FLAGS.out}/")


if __name__ == "__main__":
  commands.run(main)
