"""Train (or resume) a tfquant model.

  bin/train --arch=cheng2020 --ent_quant=universal --dec_quant=dsq --lmbda=0.0067 \\
      --train_glob='photos/*.png' --train_dir=runs/x [--config=configs/balle2018.py]

Every field of tfquant.train.TrainConfig is a flag; flags you give override --config, which
overrides the defaults. Nested settings: --set=quantizer_params.dsq.learnable=true
--set=arch_options.center=integer. Calling again with the same --train_dir resumes;
--steps is the total.
"""

import ast
import dataclasses
import os
import sys

from absl import app, flags, logging

from tfquant import commands, train

FLAGS = flags.FLAGS
_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}
for _field in dataclasses.fields(train.TrainConfig):
  if _field.type in _DEFINE:
    _DEFINE[_field.type](_field.name, None, f"TrainConfig.{_field.name} "
                         f"(default {_field.default!r}).")
flags.DEFINE_string("config", None, "Python config file defining CONFIG (see configs/).")
flags.DEFINE_multi_string("set", [], "Nested setting as dotted.key=value (Python literal).")
flags.DEFINE_integer("cpu_devices", None, "Split the CPU into this many logical devices "
                     "(to run --strategy=mirrored without GPUs).")
flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def nested_overrides(settings, config_file):
  """Turns ['a.b.c=1', ...] into {'a': {'b': {'c': 1}}} merged over the config file's dicts."""
  base = train.load_config_file(config_file) if config_file else {}
  result = {}
  for setting in settings:
    key, sep, raw = setting.partition("=")
    if not sep or "." not in key:
      raise app.UsageError(f"--set takes dotted.key=value, got {setting!r}.")
    try:
      value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      value = {"true": True, "false": False}.get(raw.lower(), raw)
    top, *path = key.split(".")
    node = result.setdefault(top, dict(base.get(top, {})))
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = value
  return result


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  if FLAGS.cpu_devices:
    train.split_cpu(FLAGS.cpu_devices)
  overrides = {f.name: FLAGS[f.name].value for f in dataclasses.fields(train.TrainConfig)
               if f.name in FLAGS and FLAGS[f.name].present}
  overrides.update(nested_overrides(FLAGS.set, FLAGS.config))
  try:
    config = train.resolve_config(FLAGS.config, overrides)
  except (ValueError, FileNotFoundError) as error:
    sys.exit(f"error: {error}")
  logging.set_verbosity(logging.INFO)
  try:
    trainer = train.train(config, progress=FLAGS.progress)
  except (FloatingPointError, ValueError, RuntimeError, OSError) as error:
    sys.exit(f"error: {error}")
  print(f"Done at step {trainer.step}; model in {os.path.join(config.train_dir, 'model')}")


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
