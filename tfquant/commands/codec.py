"""Compress images to .tfq files and back with a trained tfquant model.

  bin/codec compress   --model=RUN [--coder=tfc|tf] [--dither] in.png out.tfq
  bin/codec compress   --model=VARIABLE_RATE_RUN --lambda=0.01 in.png out.tfq
  bin/codec compress   --model=DIR_OF_MODELS --target_bpp=0.3 [--bpp_strict] in.png out.tfq
  bin/codec compress   --model=RUN --refine=100 in.png out.tfq   # slower encoder, same decoder
  bin/codec decompress [--model=RUN_OR_DIR] [--max_pixels=N] in.tfq out.png
  bin/codec info [--model=RUN] in.tfq

decompress finds the model that wrote the file (its header's fingerprint) among --model, or
the zoo's models when none is given.
"""

import math
import os
import sys

from absl import app, flags

from tfquant import commands, files, models, zoo
from tfquant.coding import BitstreamError, coders

flags.DEFINE_multi_string(
    "model", None, "A training run (or its best/, checkpoints/ckpt-N), a saved model, zoo:NAME, "
    "or a directory of these; zoo: is every zoo model, zoo:PATTERN those it matches; repeatable. compress --target_bpp chooses among them; decompress "
    "takes the one whose fingerprint the file carries (default: any zoo model).")
flags.DEFINE_float("target_bpp", None, "compress: code with every --model (a variable-rate "
                   "one at the λ a bisection finds) and keep the file whose real rate is "
                   "closest to this (bits per pixel, header included).")
if "lambda" not in flags.FLAGS:  # bin/train's flag of the same meaning, both loaded in tests
  flags.DEFINE_float("lambda", None, "compress with a variable-rate model: the λ to code at, "
                     "within the model's range.")
flags.register_validator("target_bpp", lambda value: value is None or 0 < value < math.inf,
                        "--target_bpp must be a positive number of bits per pixel")
flags.DEFINE_boolean("bpp_strict", False, "compress --target_bpp: the largest file at or under "
                     "the target instead (refused if none is).")
flags.DEFINE_boolean("dither", False, "compress: code y with U-Q's dither (random seed, "
                     "stored in the file); needs a U-Q decoder quantizer.")
flags.DEFINE_enum("coder", coders.DEFAULT, coders.NAMES, "compress: entropy coder, tfc "
                  "(tensorflow-compression's range coder) or tf (pure-TF rANS); the file "
                  "records it and decompress follows.")
flags.DEFINE_integer("refine", 0, "compress: search this many steps for a better latent "
                     "for the image (tfquant.refine: slower encoding, the same decoder; "
                     "0: the analysis transform's own).", lower_bound=0)
flags.DEFINE_enum("refine_precision", "auto", ["auto", "float32", "mixed_bfloat16"],
                  "compress --refine: the search's precision (auto: mixed_bfloat16 where the "
                  "CPU has it natively, ~2× faster; the latent is chosen in float32).")
flags.DEFINE_integer("max_pixels", None, "decompress: refuse images with more pixels "
                     "(default 2^26: 8192×8192).", lower_bound=1)
FLAGS = flags.FLAGS
COMMANDS = {"compress": 2, "decompress": 2, "info": 1}


def main(argv):
  command, paths = (argv[1], argv[2:]) if len(argv) > 1 else (None, [])
  if command not in COMMANDS:
    given = f"unknown command {command!r}" if command else "no command given"
    raise app.UsageError(f"{given}; choose from {', '.join(COMMANDS)}")
  if len(paths) != COMMANDS[command]:
    raise app.UsageError(f"{command} takes {COMMANDS[command]} path(s), got {len(paths)}")
  if FLAGS.bpp_strict and FLAGS.target_bpp is None:
    raise app.UsageError("--bpp_strict chooses by --target_bpp, which is not given")
  lmbda = FLAGS["lambda"].value
  if lmbda is not None and (command != "compress" or FLAGS.target_bpp is not None):
    raise app.UsageError("--lambda is compress's λ for a variable-rate model, without "
                         "--target_bpp (which finds the λ itself)")
  if FLAGS.refine and command != "compress":
    raise app.UsageError("--refine is compress's search for a better latent")
  if FLAGS["refine_precision"].present and not FLAGS.refine:
    raise app.UsageError("--refine_precision is --refine's: give both")
  if FLAGS.refine and FLAGS.dither:
    raise app.UsageError("--refine searches for the latent the coder rounds without a dither: "
                         "give one of --refine and --dither")
  if command == "decompress" and not paths[1].lower().endswith(".png"):
    raise app.UsageError(f"decompress writes PNG; name the output .png, not {paths[1]!r}")
  import tensorflow as tf
  try:
    paths_of_models = model_paths(FLAGS.model)
    if command == "info":
      print(files.describe(paths[0]))
      for path in paths_of_models:
        print(files.describe_model(load(path), paths[0]))
      return
    if command == "decompress":
      model = matching_model(paths_of_models, paths[0]) if paths_of_models else (
          matching_model(zoo_models(), paths[0], "no --model given and no zoo model"))
      shape = files.decompress_file(model, *paths, max_pixels=FLAGS.max_pixels)
      print(f"{paths[0]} -> {paths[1]} ({shape[1]}x{shape[0]})")
      return
    if not paths_of_models:
      raise app.UsageError("compress needs --model (a run, saved model, zoo:NAME or a folder "
                           "of them)")
    seed = tuple(int.from_bytes(os.urandom(4), "big") for _ in range(2)) if FLAGS.dither \
        else None
    if FLAGS.target_bpp is not None:
      shape, size, chosen = files.compress_to_target(
          [load(p) for p in paths_of_models], *paths, FLAGS.target_bpp, FLAGS.bpp_strict,
          dither_seed=seed, coder=FLAGS.coder, refine_steps=FLAGS.refine,
          refine_precision=FLAGS.refine_precision)
      print(f"model: {paths_of_models[chosen]}")
    elif len(paths_of_models) > 1:
      raise app.UsageError("several models: give --target_bpp to choose among them")
    else:
      shape, size = files.compress_file(load(paths_of_models[0]), *paths, dither_seed=seed,
                                        coder=FLAGS.coder, lmbda=lmbda,
                                        refine_steps=FLAGS.refine,
                                        refine_precision=FLAGS.refine_precision)
    print(f"{paths[0]} ({shape[1]}x{shape[0]}) -> {paths[1]}: {size} bytes, "
          f"{8 * size / (shape[0] * shape[1]):.4f} bpp")
  except tf.errors.ResourceExhaustedError:
    sys.exit("error: out of memory while coding; use a smaller image or a machine with more "
             "memory.")
  except tf.errors.OpError as error:
    sys.exit(f"error: TensorFlow failed while coding: {error.message.strip().splitlines()[0]}")


def model_paths(given):
  """The models that --model values name: a directory that is no model itself gives every
  model in it, zoo: every zoo model (zoo:PATTERN those it matches)."""
  paths = []
  for path in given or []:
    if path.startswith(zoo.PREFIX):
      paths += zoo.expand(path)
      continue
    if models.saved_directory(path) or not os.path.isdir(path):
      paths.append(path)  # (a checkpoint, or a missing path that `load` reports)
      continue
    inside = sorted(os.path.join(path, entry) for entry in os.listdir(path)
                    if models.saved_directory(os.path.join(path, entry)))
    if not inside:
      raise FileNotFoundError(f"{path} holds no model (saved models or training runs)")
    paths += inside
  return paths


def zoo_models():
  return [zoo.PREFIX + name for name in zoo.names()]


def matching_model(paths, tfq_path, searched=None):
  """The model among `paths` whose fingerprint `tfq_path` carries; `searched` says what
  `paths` were when no match is found."""
  from tfquant import coding
  wanted = files.file_fingerprint(tfq_path)
  for path in paths:
    model = load(path)
    if (len(paths) == 1 and searched is None) or coding.fingerprint(
        model.identifier()) == wanted:
      return model  # (a single model given decodes or explains the mismatch itself)
  searched = searched or f"none of the {len(paths)} models given"
  raise BitstreamError(f"{searched} wrote {tfq_path} (its model fingerprint is "
                       f"{wanted.hex()}): give the model that did with --model")


def load(path):
  from tfquant import train
  model = train.load_model(path)
  if not model.finalized:
    raise ValueError(f"{path} holds a model without coding tables (not finalized)")
  return model


def run():
  commands.run(main, arguments=True)


if __name__ == "__main__":
  run()
