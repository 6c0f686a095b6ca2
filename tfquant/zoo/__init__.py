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


def kodak_figures(entry):
  """The Kodak figures of a card (or of a chunk in its history, or of a candidate run):
  "kodak", and a variable-rate model's "kodak_curve"."""
  return {key: entry[key] for key in ("kodak", "kodak_curve") if key in entry}


def kodak_points(entry):
  """[(bpp, psnr, ms_ssim_db)] of one card's (or run's) Kodak figures, sorted by rate: a
  variable-rate model's whole curve, a fixed-rate model's one point."""
  return sorted(kodak_point(figures) for figures in entry.get("kodak_curve", [entry["kodak"]]))


def kodak_curve(entries):
  """[(bpp, psnr, ms_ssim_db)] of `entries` on Kodak, from their cards (every rate of a
  variable-rate entry), sorted by rate."""
  return sorted(point for name in entries for point in kodak_points(card(name)))


def references():
  """{label: Kodak curve} of the reference codecs in `references/` (see the module's doc)."""
  from tfquant import rd_curves  # pylint: disable=import-outside-toplevel  (TensorFlow; listing the zoo needs none)
  curves = {}
  for filename in sorted(os.listdir(REFERENCES)):
    curves.update(rd_curves.curves(rd_curves.load_points(os.path.join(REFERENCES, filename))))
  return curves


def lineage(entry):
  """The training chunks behind an entry (its card `entry`), oldest first: its "history", or
  for a card written before continuation one chunk of its own steps (plus its start's,
  "total_steps")."""
  if "history" in entry:
    return entry["history"]
  return [{"steps": entry.get("total_steps", entry["steps"]),
           "training_seconds": entry.get("total_training_seconds", entry["training_seconds"]),
           "cpus": entry["cpus"], "config": entry["config"], **kodak_figures(entry)}]


def _chunk_keys(history):
  """What the entries one `make-zoo --continue` run replaced have in common, for each chunk of
  `history` after its first: the date and time its family was judged, or in a chunk written
  before they were recorded (2026-12-06), the run's date and settings, and how many chunks of
  that date and settings came before it (one recipe run twice in a day is two chunks)."""
  keys, seen = [], {}
  for chunk in history[1:]:
    if "judged" in chunk:
      keys.append((chunk["date"], chunk["judged"]))
      continue
    config = chunk["config"]
    key = (chunk.get("date", ""), chunk["steps"], config.get("patch_size"),
           config.get("batch_size"), config.get("random_downscale"), config.get("lr"),
           config.get("lr_decay_fraction"))
    seen[key] = seen.get(key, -1) + 1
    keys.append(key + (seen[key],))
  return keys


def progress(family):
  """Where the family `family` has been, chunk by chunk: [{"date", "steps", "cpu_hours",
  "curve"}], oldest first, its Kodak curve (`kodak_curve`'s points: a variable-rate entry's
  every rate) after its first training and after each chunk that replaced some of its
  entries. Steps and CPU-hours are summed over the entries' histories, so a start they share
  counts once per entry."""
  histories = [lineage(card(name)) for name in families()[family]]
  keys = [_chunk_keys(history) for history in histories]
  order = {}  # chunk → (date, its latest place in a history): chunks of one date in order
  for chunk_keys in keys:
    for place, key in enumerate(chunk_keys, 1):
      order[key] = max(order.get(key, (key[0], 0)), (key[0], place))
  ordered = sorted(order, key=order.get)
  stages = [set(ordered[:i]) for i in range(len(ordered) + 1)]
  result = []
  for done in stages:
    taken = [[history[0]] + [chunk for chunk, key in zip(history[1:], chunk_keys) if key in done]
             for history, chunk_keys in zip(histories, keys)]
    result.append({
        "date": max(chunk.get("date", "") for chunks in taken for chunk in chunks) or None,
        "steps": sum(chunk["steps"] for chunks in taken for chunk in chunks),
        "cpu_hours": sum(chunk["training_seconds"] * chunk["cpus"]
                         for chunks in taken for chunk in chunks) / 3600,
        "curve": sorted(point for chunks in taken for point in kodak_points(chunks[-1]))})
  return result


def progress_rows(reference):
  """[{"family", "reference", "date", "steps", "cpu_hours", BD figures}]: `progress` of every
  family against the reference curve whose label has the word `reference`."""
  from tfquant import rd_curves  # pylint: disable=import-outside-toplevel  (as `references`)
  curves = references()
  labels = [label for label in curves if reference.lower() in label.lower().split()]
  if len(labels) != 1:
    raise ValueError(f"--reference={reference!r} names {len(labels)} of the reference "
                     f"curves: {'; '.join(curves)}")
  anchor = curves[labels[0]]
  rows = []
  for family in families():
    for stage in progress(family):
      curve = stage.pop("curve")
      rows.append(dict(family=family, reference=labels[0], **stage,
                       bd_rate=rd_curves.bd_rate(anchor, curve),
                       overlap=rd_curves.bd_overlap(anchor, curve),
                       bd_psnr=rd_curves.bd_psnr(anchor, curve),
                       bd_rate_ms_ssim=rd_curves.bd_rate(anchor, curve, "ms_ssim_db")))
  return rows


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
