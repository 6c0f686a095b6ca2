"""`make demo`: train a small codec with a quantizer pair on the sample images, then code them.

  python -m tfquant.demo --arch=balle2018 --ent_quant=universal --dec_quant=dsq --steps=300
"""

import os

import tensorflow as tf
from absl import app, flags

from tfquant import data, evaluate, models, quantizers, train

FLAGS = flags.FLAGS
flags.DEFINE_enum("arch", "balle2018", models.names(), "Architecture.")
flags.DEFINE_string("ent_quant", "universal", "Quantizer for the entropy model (rate).")
flags.DEFINE_string("dec_quant", "dsq", "Quantizer for the decoder (distortion).")
flags.DEFINE_integer("steps", 400, "Training steps.")
flags.DEFINE_integer("num_filters", 32, "Hidden filters.")
flags.DEFINE_integer("latent_filters", 48, "Latent channels.")
flags.DEFINE_float("lmbda", 0.01, "Rate-distortion trade-off (loss = lmbda * MSE_255 + bpp).")
flags.DEFINE_integer("patch_size", 128, "Training crop size.")
flags.DEFINE_integer("batch_size", 4, "Training batch size.")
flags.DEFINE_string("images", None, "Image folder (default: the embedded sample images).")
flags.DEFINE_string("out", "demo_out", "Where the model and reconstructions go.")


def main(_):
  tf.random.set_seed(0)
  for name in (FLAGS.ent_quant, FLAGS.dec_quant):
    quantizers.canonical_name(name)  # fails early with the list of valid names
  paths = data.image_paths(FLAGS.images or data.sample_dir())
  model = models.create(FLAGS.arch, num_filters=FLAGS.num_filters,
                        latent_filters=FLAGS.latent_filters, ent_quant=FLAGS.ent_quant,
                        dec_quant=FLAGS.dec_quant, lmbda=FLAGS.lmbda)
  print(f"Training {FLAGS.arch} (ent={FLAGS.ent_quant}, dec={FLAGS.dec_quant}) for "
        f"{FLAGS.steps} steps on {len(paths)} images ...")
  dataset = data.patch_dataset(paths, FLAGS.patch_size, FLAGS.batch_size, seed=0)
  history = train.fit(model, dataset, FLAGS.steps, learning_rate=1e-3)
  for step in sorted({0, len(history) // 2, len(history) - 1}):
    h = history[step]
    print(f"  step {step + 1:5d}  loss {h['loss']:9.3f}  bpp {h['bpp']:.3f}  mse {h['mse']:8.2f}")
  model.finalize()
  os.makedirs(FLAGS.out, exist_ok=True)
  models.save(model, os.path.join(FLAGS.out, "model"))

  point = evaluate.evaluate(evaluate.ModelCodec(model), paths, estimate=True,
                            reconstructions_dir=FLAGS.out)
  evaluate.save_points([point], os.path.join(FLAGS.out, "results.json"))
  print(f"\n{'image':<14}{'size':>10}{'bpp (file)':>12}{'bpp (est.)':>12}{'PSNR dB':>9}"
        f"{'MS-SSIM dB':>12}")
  for row in point["images"] + [dict(point["mean"], image="mean", width="", height="")]:
    size = f"{row['width']}x{row['height']}" if row["width"] else ""
    print(f"{row['image']:<14}{size:>10}{row['bpp']:>12.4f}{row['estimated_bpp']:>12.4f}"
          f"{row['psnr']:>9.2f}{row['ms_ssim_db']:>12.2f}")
  print("\n'bpp (file)' counts every byte of the .tfq files (header included).")
  print(f"Model, reconstructions and results.json/.csv written to {FLAGS.out}/")


if __name__ == "__main__":
  app.run(main)
