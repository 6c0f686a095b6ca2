"""Compress images to .tfq files and back with a trained tfquant model.

  bin/codec compress   --model=RUN [--coder=tfc|tf] [--dither] in.png out.tfq
  bin/codec decompress --model=RUN [--max_pixels=N] in.tfq out.png
  bin/codec info in.tfq
"""

import os
import sys

from absl import app, flags

from tfquant import commands
from tfquant.coding import BitstreamError, files

flags.DEFINE_string("model", None, "Training run (or its best/, checkpoints/ckpt-N), saved "
                    "model directory, or zoo:NAME.")
flags.DEFINE_boolean("dither", False, "compress: code y with U-Q's dither (random seed, "
                     "stored in the file); needs a U-Q decoder quantizer.")
flags.DEFINE_enum("coder", "tfc", ["tfc", "tf"], "compress: entropy coder, tfc "
                  "(tensorflow-compression's range coder) or tf (pure-TF rANS); the file "
                  "records it and decompress follows.")
flags.DEFINE_integer("max_pixels", None, "decompress: refuse images with more pixels "
                     "(default 2^24).")
FLAGS = flags.FLAGS
COMMANDS = {"compress": 2, "decompress": 2, "info": 1}


def main(argv):
  command, paths = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
  if command not in COMMANDS:
    raise app.UsageError(f"give a command: {', '.join(COMMANDS)}")
  if len(paths) != COMMANDS[command]:
    raise app.UsageError(f"{command} takes {COMMANDS[command]} path(s), got {len(paths)}")
  if command == "decompress" and not paths[1].lower().endswith(".png"):
    raise app.UsageError(f"decompress writes PNG; name the output .png, not {paths[1]!r}")
  import tensorflow as tf
  try:
    if command == "info":
      print(files.describe(paths[0]))
      if FLAGS.model:
        print(files.describe_model(load(FLAGS.model), paths[0]))
      return
    if not FLAGS.model:
      raise app.UsageError(f"{command} needs --model=RUN_DIR.")
    model = load(FLAGS.model)
    if command == "compress":
      seed = tuple(int.from_bytes(os.urandom(4), "big") for _ in range(2)) if FLAGS.dither \
          else None
      shape, size = files.compress_file(model, *paths, dither_seed=seed, coder=FLAGS.coder)
      print(f"{paths[0]} ({shape[1]}x{shape[0]}) -> {paths[1]}: {size} bytes, "
            f"{8 * size / (shape[0] * shape[1]):.4f} bpp")
    else:
      shape = files.decompress_file(model, *paths, max_pixels=FLAGS.max_pixels)
      print(f"{paths[0]} -> {paths[1]} ({shape[1]}x{shape[0]})")
  except (BitstreamError, ValueError, OSError) as error:
    sys.exit(f"error: {error}")
  except tf.errors.ResourceExhaustedError:
    sys.exit("error: out of memory while coding; use a smaller image or a machine with more "
             "memory.")
  except tf.errors.OpError as error:
    sys.exit(f"error: TensorFlow failed while coding: {error.message.strip().splitlines()[0]}")


def load(path):
  from tfquant import train
  model = train.load_model(path)
  if not model.finalized:
    sys.exit(f"error: {path} holds a model without coding tables (not finalized).")
  return model


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
