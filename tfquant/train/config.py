"""A run's configuration: `TrainConfig` (every field a `bin/train` flag), config files and
their resolution (defaults, then the file, then flags)."""

import dataclasses
import importlib.machinery
import importlib.util
import math
import os
import sys

from tfquant import models, quantizers
from tfquant.train.run_dir import initial_checkpoint

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16", "auto")


@dataclasses.dataclass
class TrainConfig:
  """Everything a run depends on. Fractions are of `steps` and resolved at start."""
  arch: str = "balle2018"
  ent_quant: str = "noise"
  dec_quant: str = None  # defaults to ent_quant
  z_ent_quant: str = None  # defaults to ent_quant
  z_dec_quant: str = None  # defaults to dec_quant
  quantizer_params: dict = dataclasses.field(default_factory=dict)  # {name: {param: value}}
  lmbda: float = 0.01
  lmbda_max: float = None  # a variable-rate model over λ ∈ [lmbda, lmbda_max]
  lmbda_list: str = None  # "λ1,λ2,…" in that range: trained at these, not log-uniformly
  # A variable-rate batch's examples, each at its own λ, weighted by (the batch's mean loss
  # over their own)^lmbda_balance: 0 adds their λ·D + R as they are, where the high λ's larger
  # losses weigh more; 1 makes a relative gain count alike at every λ, as it does for the
  # optimizer of a fixed-rate model.
  lmbda_balance: float = 0.0
  num_filters: int = 128
  latent_filters: int = None
  context: str = None  # minnen2018 / cheng2020: "none", "serial" or "checkerboard"
  distortion: str = None  # "mse" or "ms-ssim" (default: the model's, MSE)
  arch_options: dict = dataclasses.field(default_factory=dict)
  train_glob: str = None
  tfds_name: str = None
  tfds_split: str = "train"
  tfds_data_dir: str = None
  batch_size: int = 8  # global, split across replicas
  patch_size: int = 256
  random_downscale: float = None  # crops shrunk by a random factor in [this, 1]
  steps: int = 1000000
  lr: float = 1e-4
  lr_decay_fraction: float = None  # lr × lr_decay_factor from this fraction of steps on
  lr_decay_factor: float = 0.1
  sga_decay: float = 3e-4
  sga_decay_start_fraction: float = 0.997
  sth_switch_fraction: float = 0.96
  strategy: str = "default"
  precision: str = "float32"  # "auto": mixed_bfloat16 where native, else float32
  seed: int = 0
  checkpoint_every: int = 1000
  keep_checkpoints: int = 3
  summary_every: int = 100
  image_summary_every: int = 1000
  max_nonfinite_steps: int = 20
  train_dir: str = None
  init_from: str = None  # a run, checkpoint or saved model (zoo:NAME): a fresh run's weights
  val_glob: str = None  # images that choose best/ (hard rounding); None: no best/
  val_every: int = None  # steps between validations (default: checkpoint_every)

  def validate(self):
    """Raises ValueError naming every problem, before any work is done."""
    problems = []
    if self.arch not in models.names():
      problems.append(f"--arch={self.arch!r} is not one of {models.names()}")
    for field in ("ent_quant", "dec_quant", "z_ent_quant", "z_dec_quant"):
      value = getattr(self, field)
      if value is not None:
        try:
          quantizers.canonical_name(value)
        except ValueError as error:
          problems.append(f"--{field}: {error}")
    for name in self.quantizer_params:
      try:
        quantizers.canonical_name(name)
      except ValueError:
        problems.append(f"quantizer_params names unknown quantizer {name!r}")
    if self.strategy not in STRATEGIES:
      problems.append(f"--strategy={self.strategy!r} is not one of {STRATEGIES}")
    if self.precision not in PRECISIONS:
      problems.append(f"--precision={self.precision!r} is not one of {PRECISIONS}")
    if (self.train_glob is None) == (self.tfds_name is None):
      problems.append("give exactly one of --train_glob and --tfds_name")
    if not self.train_dir:
      problems.append("--train_dir is required")
    for field in ("steps", "batch_size", "patch_size", "num_filters", "checkpoint_every",
                  "keep_checkpoints", "summary_every", "image_summary_every"):
      if getattr(self, field) < 1:
        problems.append(f"--{field} must be positive, got {getattr(self, field)}")
    if self.random_downscale is not None and not 0 < self.random_downscale <= 1:
      problems.append(f"--random_downscale must be within (0, 1], got {self.random_downscale}")
    if not (0 < self.lmbda < math.inf and 0 < self.lr < math.inf):
      problems.append(f"--lambda and --lr must be positive numbers, got {self.lmbda}, {self.lr}")
    if self.lmbda_max is not None and not self.lmbda < self.lmbda_max < math.inf:
      problems.append(f"--lambda_max must be above --lambda, got {self.lmbda_max} "
                      f"(--lambda={self.lmbda})")
    if self.lmbda_list is not None:
      problems.extend(self._lmbda_list_problems())
    if not 0 <= self.lmbda_balance <= 1:
      problems.append(f"--lambda_balance must be within [0, 1], got {self.lmbda_balance}")
    elif self.lmbda_balance and self.lmbda_max is None:
      problems.append("--lambda_balance weighs a variable-rate model's λ: it needs "
                      "--lambda_max")
    for field in ("lr_decay_fraction", "sga_decay_start_fraction", "sth_switch_fraction"):
      value = getattr(self, field)
      if value is not None and not 0 <= value <= 1:
        problems.append(f"{field} must be within [0, 1], got {value}")
    if self.val_every is not None and self.val_every < 1:
      problems.append(f"--val_every must be positive, got {self.val_every}")
    if self.val_every is not None and self.val_glob is None:
      problems.append("--val_every needs --val_glob (the images that choose best/)")
    if self.init_from is not None:
      try:
        if models.saved_directory(self.init_from) is None:
          initial_checkpoint(self.init_from)
      except (ValueError, FileNotFoundError) as error:
        problems.append(str(error))
    if not problems:  # what only the architecture knows (its options, context modes, ...)
      try:
        side = models.create(self.arch, **self.model_options()).min_training_side()
        if self.patch_size < side:
          problems.append(f"--patch_size={self.patch_size} is below what a {self.arch} "
                          f"training step with {self.distortion or 'mse'} takes ({side})")
      except ValueError as error:
        problems.append(str(error))
    if problems:
      raise ValueError("invalid training configuration: " + "; ".join(problems))
    return self

  @property
  def training_lmbdas(self):
    """The λ a variable-rate model trains at (`lmbda_list`), or None: log-uniform."""
    if self.lmbda_list is None:
      return None
    return [float(v) for v in self.lmbda_list.split(",")]

  def _lmbda_list_problems(self):
    try:
      values = self.training_lmbdas
    except ValueError:
      return [f"--lambda_list takes numbers separated by commas, got {self.lmbda_list!r}"]
    if self.lmbda_max is None:
      return ["--lambda_list needs a variable-rate model (--lambda_max)"]
    outside = [v for v in values if not self.lmbda <= v <= self.lmbda_max]
    if len(set(values)) < 2 or outside:
      return [f"--lambda_list needs at least 2 distinct λ within [--lambda, --lambda_max] = "
              f"[{self.lmbda:g}, {self.lmbda_max:g}], got {self.lmbda_list!r}"]
    return []

  def at(self, fraction):
    return int(round(fraction * self.steps))

  def quantizer_spec(self, name):
    """Name plus parameters: the step-dependent defaults, then `quantizer_params`."""
    if name is None:
      return None
    canonical = quantizers.canonical_name(name)
    params = {
        "sga": {"decay": self.sga_decay, "decay_start": self.at(self.sga_decay_start_fraction)},
        "sth": {"switch_step": self.at(self.sth_switch_fraction)},
    }.get(canonical, {})
    params.update(self.quantizer_params.get(canonical, {}))
    return {"name": canonical, **params}

  def model_options(self):
    lmbda = self.lmbda if self.lmbda_max is None else [self.lmbda, self.lmbda_max]
    options = dict(num_filters=self.num_filters, lmbda=lmbda, **self.arch_options)
    if self.latent_filters is not None:
      options["latent_filters"] = self.latent_filters
    if self.context is not None:
      options["context"] = self.context
    if self.distortion is not None:
      options["distortion"] = self.distortion
    dec = self.dec_quant or self.ent_quant
    options.update(ent_quant=self.quantizer_spec(self.ent_quant),
                   dec_quant=self.quantizer_spec(dec))
    if self.arch != "balle2017":
      options.update(z_ent_quant=self.quantizer_spec(self.z_ent_quant or self.ent_quant),
                     z_dec_quant=self.quantizer_spec(self.z_dec_quant or dec))
    return options



CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "configs")  # shipped with the package; `configs/` in a checkout


def config_names():
  """The short names of the shipped configs (`--config=balle2018`)."""
  return sorted(name[:-3] for name in os.listdir(CONFIGS_DIR)
                if name.endswith(".py") and not name.startswith("_"))


def load_python_config(path, variable):
  """Runs a Python config file — a path, or the short name of a shipped one — and returns
  its `variable` (a dict).

  The file's folder is importable while it runs, so configs can share settings.
  """
  if not os.path.isfile(path) and os.sep not in path and not path.endswith(".py"):
    if path not in config_names():
      raise FileNotFoundError(f"No config file {path!r} and no shipped config of that name; "
                              f"shipped: {', '.join(config_names())}.")
    path = os.path.join(CONFIGS_DIR, f"{path}.py")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"Config file {path!r} not found.")
  name = f"tfquant_{variable.lower()}"
  loader = importlib.machinery.SourceFileLoader(name, path)  # whatever the file is named
  module = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
  sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
  try:
    loader.exec_module(module)
  except ValueError:
    raise  # the config's own message
  except Exception as error:  # pylint: disable=broad-except  (any mistake in the file)
    raise ValueError(f"{path} does not run as a Python config: {type(error).__name__}: "
                     f"{error}") from error
  finally:
    sys.path.pop(0)
  if not isinstance(getattr(module, variable, None), dict):
    raise ValueError(f"{path} must define a dict named {variable}.")
  return dict(getattr(module, variable))


def load_config_file(path):
  """A training config file defines `CONFIG`, a dict of `TrainConfig` fields."""
  return load_python_config(path, "CONFIG")


def resolve_config(config_file=None, overrides=None):
  """Defaults, then the config file, then `overrides` (e.g. flags the user set)."""
  values = load_config_file(config_file) if config_file else {}
  values.update(overrides or {})
  names = {f.name for f in dataclasses.fields(TrainConfig)}
  unknown = set(values) - names
  if unknown:
    raise ValueError(f"Unknown configuration keys: {sorted(unknown)}.")
  return TrainConfig(**values).validate()


def config_overrides_as_set(argv):
  """ml_collections' override form, `--config.KEY=VALUE` or `--config.KEY VALUE`, as
  `--set=KEY=VALUE` (why not ml_collections itself: README, Training)."""
  result, rest = [argv[0]], iter(argv[1:])
  for argument in rest:
    if argument.startswith(("--config.", "-config.")):
      key, sep, value = argument.split(".", 1)[1].partition("=")
      result.append(f"--set={key}={value if sep else next(rest, '')}")
    else:
      result.append(argument)
  return result
