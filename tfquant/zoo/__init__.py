"""Models trained on this project's CPUs and shipped in the package, loadable by name.

    models.load("zoo:balle2018-mse-0.01")      # or any command's --model=zoo:NAME
    tfquant zoo                                 # lists them with their Kodak figures

Each entry is a directory here holding what `tfquant.models.save` writes (`model.json`,
weights; float32) and `card.json`: the training configuration, steps, CPU time and its
Kodak figures. A variable-rate entry (`config.lmbda_max` set) is a family of its own: its card's
`kodak` is its point at the range's geometric middle, and `kodak_curve` its whole curve.
`configs/zoo_*.py` and `docs/RESULTS.md` say how they were made.
`references/` holds Kodak curves to judge them by: JPEG and WebP measured here, BPG 4:4:4 and
CompressAI's models of the same architectures as CompressAI publishes them.
"""

import fnmatch
import json
import os

PREFIX = "zoo:"
DIRECTORY = os.path.dirname(os.path.abspath(__file__))
CARD_FILE = "card.json"
REFERENCES = os.path.join(DIRECTORY, "references")


def names():
  return sorted(entry for entry in os.listdir(DIRECTORY) if not entry.startswith(".")
                and os.path.isfile(os.path.join(DIRECTORY, entry, CARD_FILE)))


def path(name):
  """The directory of zoo entry `name` (with or without the "zoo:" prefix)."""
  name = name[len(PREFIX):] if name.startswith(PREFIX) else name
  if name not in names():
    raise FileNotFoundError(f"No zoo model {name!r}; the zoo has: {', '.join(names()) or 'none'}.")
  return os.path.join(DIRECTORY, name)


def card(name):
  with open(os.path.join(path(name), CARD_FILE)) as f:
    return json.load(f)


def families():
  """{family: [entry names]}: the entries that share a name up to their λ (balle2018-mse)."""
  result = {}
  for name in names():
    result.setdefault(name.rsplit("-", 1)[0], []).append(name)
  return result


def kodak_point(figures):
  """(bpp, psnr, ms_ssim_db) of a card's Kodak `figures`: a point of an RD curve."""
  return figures["bpp"], figures["psnr"], figures["ms_ssim_db"]


def kodak_curve(entries):
  """[(bpp, psnr, ms_ssim_db)] of `entries` on Kodak, from their cards (every rate of a
  variable-rate entry), sorted by rate."""
  return sorted(kodak_point(figures) for name in entries
                for figures in card(name).get("kodak_curve", [card(name)["kodak"]]))


def references():
  """{label: Kodak curve} of the reference codecs in `references/` (see the module's doc)."""
  from tfquant import evaluate  # pylint: disable=import-outside-toplevel  (TensorFlow; listing the zoo needs none)
  curves = {}
  for filename in sorted(os.listdir(REFERENCES)):
    curves.update(evaluate.curves(evaluate.load_points(os.path.join(REFERENCES, filename))))
  return curves


def expand(spec):
  """The zoo models that `spec` names, as "zoo:NAME": "zoo:NAME" itself, "zoo:" every entry,
  "zoo:PATTERN" those matching the shell pattern (zoo:balle2017-*)."""
  pattern = spec[len(PREFIX):] or "*"
  if not any(c in pattern for c in "*?["):
    return [PREFIX + os.path.basename(path(pattern))]
  matches = fnmatch.filter(names(), pattern)
  if not matches:
    raise FileNotFoundError(f"No zoo model matches {spec!r}; the zoo has: "
                            f"{', '.join(names()) or 'none'}.")
  return [PREFIX + name for name in matches]


def variable_rate(name):
  """Whether the entry is one variable-rate model (a λ range, not one λ)."""
  return card(name)["config"].get("lmbda_max") is not None


def describe(name):
  """One entry's row for `tfquant zoo`: what it is, how it was trained, its Kodak figures."""
  entry = card(name)
  config, kodak = entry["config"], entry["kodak"]
  filters = str(config["num_filters"]) + (
      f"/{config['latent_filters']}" if config.get("latent_filters") else "")
  size = sum(os.path.getsize(os.path.join(path(name), f)) for f in os.listdir(path(name)))
  return {"name": name, "arch": config["arch"], "filters": filters, "lmbda": config["lmbda"],
          "lmbda_max": config.get("lmbda_max"),
          "steps": entry.get("total_steps", entry["steps"]),
          "hours": entry.get("total_training_seconds", entry["training_seconds"]) / 3600,
          "precision": config.get("precision", "float32"), "megabytes": size / 1e6,
          "bpp": kodak["bpp"], "psnr": kodak["psnr"], "ms_ssim_db": kodak["ms_ssim_db"]}
