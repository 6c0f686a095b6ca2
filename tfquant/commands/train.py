"""Train (or resume) a tfquant model.

  bin/train --arch=cheng2020 --ent_quant=universal --dec_quant=dsq --lambda=0.0067 \\
      --train_glob='photos/*.png' --train_dir=runs/x [--config=balle2018]
  bin/train --arch=balle2018 --lambda=0.0018 --lambda_max=0.0483 ...   (one model, every rate)

Every field of tfquant.train.TrainConfig is a flag; flags you give override --config, which
overrides the defaults. Nested settings: --set=quantizer_params.dsq.learnable=true
--set=arch_options.center=integer, or in ml_collections' form
--config.arch_options.distortion=ms-ssim. Calling again with the same --train_dir resumes;
--steps is the total.
"""

import ast
import dataclasses
import os
import sys

from absl import app, flags, logging

from tfquant import commands, models, quantizers, train

FLAGS = flags.FLAGS
_QUANTIZERS = f"one of {', '.join(quantizers.names())} (or an alias such as U-Q)"
HELP = {
    "arch": f"architecture: {', '.join(models.names())}",
    "ent_quant": f"quantizer for the entropy model (rate): {_QUANTIZERS}",
    "dec_quant": "quantizer for the decoder (distortion); default: --ent_quant",
    "z_ent_quant": "hyper-latent z's entropy quantizer; default: --ent_quant",
    "z_dec_quant": "hyper-latent z's decoder quantizer; default: --dec_quant",
    "lmbda": "rate-distortion weight λ: loss = λ·MSE (0-255 scale) + bpp, as TFC and "
             "CompressAI",
    "lmbda_max": "a variable-rate model: λ from --lambda to this, drawn log-uniformly per "
                 "example, each coded at its own quantization step",
    "lmbda_list": "a variable-rate model trained at these λ only (comma-separated, within "
                  "[--lambda, --lambda_max]), drawn uniformly per example",
    "lmbda_balance": "a variable-rate batch's examples each weighted by (the batch's mean loss "
                     "over their own)^this: 0 adds their λ·D + R as they are (the high λ's "
                     "larger losses weigh more), 1 makes a relative gain count alike at every "
                     "λ",
    "distortion": "mse or ms-ssim; default: the model's (mse)",
    "context": "minnen2018 / cheng2020 context model: none, serial or checkerboard",
    "strategy": f"tf.distribute strategy: {', '.join(train.STRATEGIES)}",
    "precision": f"{', '.join(train.PRECISIONS)}: what the transforms compute in "
                 "(mixed_bfloat16: about 2× faster on CPUs with AVX-512 BF16 or AMX, "
                 "emulated and slower elsewhere; auto: mixed_bfloat16 where native, else "
                 "float32; the entropy side is float32 in every precision)",
    "train_glob": "training images: a folder or a glob of PNG/JPEG files",
    "train_dir": "the run directory (resumes when it holds a run)",
    "steps": "total training steps (a resume runs up to this)",
    "lr": "Adam learning rate",
    "batch_size": "global batch, split across replicas",
    "patch_size": "training crop side, pixels",
    "random_downscale": "each crop shrunk by a random factor in [this, 1] (a larger crop "
                        "resized, antialiased): more views of a small set of photos; "
                        "default: none",
    "val_glob": "validation images that choose best/ (hard rounding); default: no best/",
    "val_every": "steps between validations; default: --checkpoint_every",
    "num_filters": "channels N of the transforms' hidden layers",
    "latent_filters": "channels M of the latent y; default: the architecture's",
    "tfds_name": "a prepared tensorflow-datasets dataset instead of --train_glob",
    "tfds_split": "its split",
    "tfds_data_dir": "its data folder (nothing is downloaded)",
    "lr_decay_fraction": "from this fraction of --steps on, lr × --lr_decay_factor; "
                         "default: no decay",
    "lr_decay_factor": "learning-rate factor from --lr_decay_fraction on",
    "sga_decay": "SGA-Q's temperature decay rate per step",
    "sga_decay_start_fraction": "fraction of --steps where SGA-Q's annealing starts",
    "sth_switch_fraction": "fraction of --steps where STH-Q switches to hard rounding (and "
                           "freezes the encoder)",
    "seed": "random seed (initial weights, crops, noise)",
    "checkpoint_every": "steps between checkpoints",
    "keep_checkpoints": "how many recent checkpoints to keep",
    "summary_every": "steps between TensorBoard scalars",
    "image_summary_every": "steps between TensorBoard reconstructions",
    "max_nonfinite_steps": "non-finite steps in a row that stop the run",
    "init_from": "a run, checkpoint or saved model (zoo:NAME) whose weights start a new run",
}
# TrainConfig's field (λ is a Python keyword): the flag
FLAG_NAMES = {"lmbda": "lambda", "lmbda_max": "lambda_max", "lmbda_list": "lambda_list",
              "lmbda_balance": "lambda_balance"}
_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}
for _field in dataclasses.fields(train.TrainConfig):
  if _field.type in _DEFINE:
    _DEFINE[_field.type](FLAG_NAMES.get(_field.name, _field.name), None,
                         HELP[_field.name] + f" (default {_field.default!r}).")
for _field, _flag in FLAG_NAMES.items():
  flags.DEFINE_alias(_field, _flag)
flags.DEFINE_string("config", None, "A shipped config by name (balle2018, cheng2020, ...: "
                    "tfquant/configs/) or a Python file defining CONFIG.")
flags.DEFINE_multi_string("set", [], "A setting as key=value or dotted.key=value for nested "
                          "ones (a Python literal), e.g. quantizer_params.dsq.learnable=true.")
flags.DEFINE_integer("cpu_devices", None, "Split the CPU into this many logical devices "
                     "(to run --strategy=mirrored without GPUs).")
flags.DEFINE_boolean("progress", True, "Show a progress bar.")


def nested_overrides(settings, base):
  """Turns ['a.b.c=1', 'd=2', ...] into {'a': {'b': {'c': 1}}, 'd': 2}, nested values merged
  over the dicts of `base` (the config file's values)."""
  result = {}
  for setting in settings:
    key, sep, raw = setting.partition("=")
    if not sep or not key:
      raise app.UsageError(f"--set takes key=value or dotted.key=value, got {setting!r}")
    try:
      value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
      value = {"true": True, "false": False}.get(raw.lower(), raw)
    top, *path = key.split(".")
    if not path:
      result[top] = value
      continue
    node = result.setdefault(top, dict(base.get(top, {})))
    for part in path[:-1]:
      node = node.setdefault(part, {})
    node[path[-1]] = value
  return result


def main(argv):
  del argv
  if FLAGS.cpu_devices:
    train.split_cpu(FLAGS.cpu_devices)
  values = train.load_config_file(FLAGS.config) if FLAGS.config else {}  # read once
  given = {f.name: FLAGS[FLAG_NAMES.get(f.name, f.name)]
           for f in dataclasses.fields(train.TrainConfig)
           if FLAG_NAMES.get(f.name, f.name) in FLAGS}
  values.update({name: flag.value for name, flag in given.items() if flag.present})
  values.update(nested_overrides(FLAGS.set, values))
  config = train.resolve_config(overrides=values)
  logging.set_verbosity(logging.INFO)
  trainer = train.train(config, progress=FLAGS.progress)
  print(f"Done at step {trainer.step}; model in {os.path.join(config.train_dir, 'model')}")


def run():
  sys.argv = train.config_overrides_as_set(sys.argv)
  commands.run(main, errors=(ValueError, OSError, FloatingPointError, RuntimeError))


if __name__ == "__main__":
  run()
