"""Trains the model zoo (`bin/make-zoo`) and writes its entries into `tfquant/zoo/`.

`make`: one run from scratch (the config's CONFIG), then one fine-tune per other λ
(ZOO["finetune"]) from its final weights. `continue_family`: one more chunk of training for
every entry of a family, started from the shipped weights (or from an earlier chunk that
fell short), kept only if the family's Kodak curve gains. Runs resume after any interruption
(each is a `tfquant.train` run directory); a finished run's model is evaluated on Kodak with
real files and saved, with a card, as a zoo entry.
"""

import dataclasses
import datetime
import json
import math
import os
import shutil
import time

from tfquant import data, evaluate, files, models, rd_curves, train, zoo
from tfquant.train import strategy

CURVE_RATES = 25  # a variable-rate entry's Kodak curve: enough to show it is continuous
UNSHIPPED_CHUNKS = "unshipped_chunks.json"  # in a --continue start: chunks the zoo never took


def _timed_train(config):
  """Trains (or resumes) and adds the wall time to the run's `seconds.json`."""
  path = os.path.join(config.train_dir, "seconds.json")
  seconds = 0.0
  if os.path.exists(path):
    with open(path) as f:
      seconds = json.load(f)["seconds"]
  start = time.time()
  trainer = train.train(config, progress=False)
  seconds += time.time() - start
  with open(path, "w") as f:
    json.dump({"seconds": seconds}, f)
  return trainer.step, seconds


def _trained(config, train_missing):
  """(steps, seconds) of the run `config`: trained or resumed if `train_missing`, else as it
  finished; None if it has not."""
  if train_missing:
    return _timed_train(config)
  if os.path.exists(os.path.join(config.train_dir, models.RUN_MODEL_DIR)):
    with open(os.path.join(config.train_dir, "seconds.json")) as f:
      return config.steps, json.load(f)["seconds"]
  return None


def runs(config_file, work_dir):
  """[(λ, name, settings)]: the run from scratch first, then the fine-tunes from its final
  checkpoint (settings are `TrainConfig` fields, resolved when the run starts)."""
  base = train.load_config_file(config_file)
  plan = train.load_python_config(config_file, "ZOO")
  base_name = plan["name"].format(lmbda=base["lmbda"])
  base_dir = os.path.join(work_dir, base_name)
  result = [(base["lmbda"], base_name, dict(base, train_dir=base_dir))]
  for lmbda, settings in sorted(plan["finetune"].items()):
    name = plan["name"].format(lmbda=lmbda)
    result.append((lmbda, name, dict(base, **settings, train_dir=os.path.join(work_dir, name),
                                     init_from=os.path.join(base_dir, "checkpoints"))))
  return result


def _save_and_evaluate(config, directory, name, images, rates=CURVE_RATES):
  """Saves the finished run `config` in `directory` (float16 weights) and returns the card's
  Kodak figures of what was saved, coded for real on `images`: {"kodak": figures}; for a
  variable-rate model also "kodak_curve", its figures at `rates` λ spaced evenly in log λ, and
  "kodak" is its point at the range's geometric middle. Each point is kept in the run
  directory as soon as it is measured, so that a killed evaluation resumes where it stopped."""
  models.save(models.load(config.train_dir), directory, float16=True)
  model = models.load(directory)
  if not model.variable_rate:
    return {"kodak": _figures(evaluate.ModelCodec(model, label=name), images)}
  done_path = os.path.join(config.train_dir, "kodak_points.json")
  done = {"steps": config.steps, "points": {}}
  if os.path.exists(done_path):
    with open(done_path) as f:
      kept = json.load(f)
    if kept["steps"] == config.steps:  # else measured before the run was trained further
      done = kept
  codecs = evaluate.ModelCodec.at_rates(model, rates, label=name)
  codecs.append(evaluate.ModelCodec(model, label=name, lmbda=model.quantization_step.middle))
  for codec in codecs:
    key = f"{codec.lmbda:.6g}"
    if key not in done["points"]:
      done["points"][key] = dict(_figures(codec, images), lmbda=float(key))
      files.write_atomically(done_path, json.dumps(done, indent=1).encode())
  curve = [done["points"][f"{codec.lmbda:.6g}"] for codec in codecs]
  return {"kodak": curve[-1], "kodak_curve": sorted(curve[:-1], key=lambda p: p["lmbda"])}


def _figures(codec, images):
  point = evaluate.evaluate(codec, images)
  return {k: point["mean"][k] for k in ("bpp", "psnr", "ms_ssim", "ms_ssim_db")}


def _card_config(config):
  """`config` as a card records it: without machine-specific paths, with the precision it
  trained in (what "auto" resolved to)."""
  values = dataclasses.asdict(config)
  values["train_dir"] = values["init_from"] = None
  values["precision"] = strategy.resolve_precision(config.precision)
  values["train_glob"] = os.path.basename(os.path.dirname(config.train_glob or ""))
  return values


def _start(config, steps, seconds):
  """A run started from a zoo entry: which, and the totals of steps and seconds with it."""
  if not (config.init_from or "").startswith(zoo.PREFIX):
    return {}
  start = zoo.card(config.init_from)
  start_steps = start.get("total_steps", start["steps"])
  return {"started_from": f"{config.init_from} (its weights at {start_steps} steps)",
          "total_steps": start_steps + steps,
          "total_training_seconds": round(seconds + start.get(
              "total_training_seconds", start["training_seconds"]))}


def write_entry(name, config, steps, seconds, images, rates=CURVE_RATES):
  """Writes a finished run as tfquant/zoo/<name> (float16 weights) and evaluates what was
  written on `images` (a variable-rate model at `rates` λ)."""
  directory = os.path.join(zoo.DIRECTORY, name)
  card = {"name": name, "steps": steps, "training_seconds": round(seconds),
          "cpus": os.cpu_count(), "config": _card_config(config), "kodak_images": len(images),
          **_start(config, steps, seconds),
          **_save_and_evaluate(config, directory, name, images, rates)}
  card["weights"] = weights_description([card])
  with open(os.path.join(directory, zoo.CARD_FILE), "w") as f:
    json.dump(card, f, indent=2, sort_keys=True)
  return card


def make(config_file, work_dir, only=None, train_missing=True):
  """Trains (or resumes) the runs of `config_file` in `work_dir` (`only`: those λ) and writes
  each finished one as a zoo entry."""
  plan = runs(config_file, work_dir)
  rates = train.load_python_config(config_file, "ZOO").get("rates", CURVE_RATES)
  unknown = sorted(set(only or ()) - {lmbda for lmbda, _, _ in plan})
  if unknown:
    raise ValueError(f"{config_file} has no run at λ {', '.join(map(str, unknown))}; its λ: "
                     f"{', '.join(str(lmbda) for lmbda, _, _ in plan)}.")
  images = data.image_paths(data.shared_dir("kodak") or data.sample_dir())
  for lmbda, name, settings in plan:
    if only and lmbda not in only:
      continue
    config = train.resolve_config(overrides=settings)
    trained = _trained(config, train_missing)
    if trained is None:
      continue
    steps, seconds = trained
    card = write_entry(name, config, steps, seconds, images, rates)
    print(f"{name}: {steps} steps, {seconds / 3600:.2f} h; Kodak bpp "
          f"{card['kodak']['bpp']:.4f}, PSNR {card['kodak']['psnr']:.2f} dB", flush=True)


def family_entries(family):
  """The zoo entries `family` names: the fixed-rate entries of a family (their names' prefix:
  "cheng2020" or "cheng2020-mse"), sorted by rate (λ), of which a variable-rate entry is no
  point; or a variable-rate entry's own name, which is a family of one model."""
  if family in zoo.names() and zoo.variable_rate(family):
    return [family]
  names = [name for name in zoo.names() if name.startswith(family + "-")
           and not zoo.variable_rate(name)]
  if not names:
    raise ValueError(f"No zoo family {family!r}; the zoo has: {', '.join(zoo.names())}.")
  return sorted(names, key=lambda name: zoo.card(name)["config"]["lmbda"])


def family_curve(entries):
  """The points of a family's entries ({name: [(bpp, psnr, ms_ssim_db)]}), in rate order."""
  return sorted(point for points in entries.values() for point in points)


def choose(old, candidates):
  """Which candidates replace their entries: greedily (in rate order) each that lowers the
  family's BD-rate against its old curve, or leaves it as it is and lies above that curve (a
  gain beyond the old curve's ends, where no BD figure reaches).

  The judge reads what a family can reach, its Pareto front (an entry another one beats on
  both axes is no point of it), with log rate linear between points: a candidate that beats
  its entry then never counts against the family, where PCHIP, bent flat by a saturating top,
  can (docs/RESULTS.md, "chunk 7"). `old` and `candidates` are {name: [(bpp, psnr,
  ms_ssim_db)]}, each entry's points (`zoo.kodak_points`); returns (the names taken, the
  family's BD-rate in % with them)."""
  def reach(entries):
    return rd_curves.pareto_front(family_curve(entries))
  old_curve = family_curve(old)
  anchor = rd_curves.pareto_front(old_curve)
  taken, best = [], 0.0
  for name in sorted(candidates, key=lambda n: old[n]):
    gain = rd_curves.bd_rate(anchor, reach(dict(old, **{n: candidates[n]
                                                       for n in taken + [name]})),
                             method="linear")
    if gain < best or (gain <= best + 1e-9 and _above(candidates[name], old_curve)):
      taken, best = taken + [name], min(gain, best)
  return taken, best


def _above(points, curve):
  """Whether each point has more PSNR than any point of `curve` at no more bits."""
  return all(psnr > max((q for b, q, _ in curve if b <= bpp), default=-math.inf)
             for bpp, psnr, _ in points)


def continue_family(family, work_dir, chunk, train_missing=True, min_gain=2.0, only=None,
                    after=None):
  """One more chunk of training for each entry of the zoo family `family` (`only`: the
  entries at these λ), each started from its shipped weights, or with `after` (the work_dir
  of an earlier run of this function that shipped none of them) from its candidate there
  (`chunk`: `TrainConfig` fields replacing the entry's own, e.g. steps, lr,
  lr_decay_fraction). Finished candidates are evaluated on Kodak with real files; those
  that lower the family's BD-rate (the whole family's, untrained entries as they are)
  replace their entries, and only if together they lower it by at least `min_gain` %. A
  variable-rate entry (`family` its name) is judged by its whole curve, measured again at as
  many rates. Returns the report (also `work_dir`/report.json)."""
  _restore_retired_entries()
  names = family_entries(family)
  cards = {name: zoo.card(name) for name in names}
  lambdas = {name: card["config"]["lmbda"] for name, card in cards.items()}
  if only and zoo.variable_rate(names[0]):
    raise ValueError(f"{family} is one variable-rate model: it has no entries to pick by λ")
  unknown = sorted(set(only) - set(lambdas.values())) if only else ()
  if unknown:
    raise ValueError(f"the {family} family has no entry at λ "
                     f"{', '.join(map(str, unknown))}; its λ: "
                     f"{', '.join(str(lambdas[name]) for name in names)}.")
  after_report = after and _previous_report(after, family)
  photos = data.shared_dir("photos")
  kodak = data.shared_dir("kodak")
  if photos is None or kodak is None:
    raise FileNotFoundError("continuing the zoo needs ../shared/data/photos (training) and "
                            "../shared/data/kodak (the family's judge)")
  images = data.image_paths(kodak)
  old, candidates, runs = {}, {}, {}
  for name, card in cards.items():
    old[name] = zoo.kodak_points(card)
    if only and lambdas[name] not in only:
      continue
    root = os.path.join(work_dir, name)
    start = os.path.join(root, "start")
    if not os.path.exists(start):  # a copy: the entry may be replaced while the run lives
      _copy_start(name, card, start, after, after_report)
    with open(os.path.join(start, zoo.CARD_FILE)) as f:
      if json.load(f) != card:
        raise ValueError(f"{root} continues another version of {name} than the zoo's; "
                         f"start again in a new --work_dir")
    settings = dict(card["config"], **chunk, train_dir=os.path.join(root, "run"),
                    init_from=start, train_glob=os.path.join(photos, "*.png"))
    if "precision" not in chunk and settings["precision"] == "mixed_bfloat16":
      settings["precision"] = "auto"  # float32 where bfloat16 would be emulated, ~10× slower
    config = train.resolve_config(overrides=settings)
    result_path = os.path.join(root, "kodak.json")
    if not os.path.exists(result_path):
      trained = _trained(config, train_missing)
      if trained is None:
        continue
      steps, seconds = trained
      figures = _save_and_evaluate(config, os.path.join(root, "candidate"), name, images,
                                   rates=len(card.get("kodak_curve", ())) or CURVE_RATES)
      with open(result_path, "w") as f:
        json.dump({"steps": steps, "seconds": seconds, "cpus": os.cpu_count(),
                   "config": _card_config(config), **figures}, f)
    with open(result_path) as f:
      runs[name] = json.load(f)
    candidates[name] = zoo.kodak_points(runs[name])
    (bpp, psnr, _), (new_bpp, new_psnr, _) = (zoo.kodak_point(entry["kodak"])
                                              for entry in (card, runs[name]))
    print(f"{name}: bpp {bpp:.4f} → {new_bpp:.4f}, PSNR {psnr:.2f} → {new_psnr:.2f} dB",
          flush=True)
  taken, gain = choose(old, candidates)
  replace = gain <= -min_gain
  judged = datetime.datetime.now().isoformat()  # names this chunk in every card
  if replace:
    for name in taken:
      _replace(name, _chunk(runs[name], judged), os.path.join(work_dir, name), len(images))
  pchip = rd_curves.bd_rate(family_curve(old), family_curve(
      dict(old, **{name: candidates[name] for name in taken})))
  report = {"family": family, "chunk": chunk, "only": only or None, "after": after,
            "judged": judged, "bd_rate": gain,
            "bd_rate_pchip": None if math.isnan(pchip) else pchip, "min_gain": min_gain,
            "replaced": taken if replace else [],
            "entries": {name: {"old": old[name], "candidate": candidates.get(name)}
                        for name in names}}
  with open(os.path.join(work_dir, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
  verdict = (f"replaced {', '.join(taken)}" if replace else
             f"kept the zoo as it is (a gain under {min_gain}% is not worth a new entry "
             f"in every clone's history)")
  print(f"{family}: BD-rate {gain:+.2f}% (PCHIP: {pchip:+.2f}%) against the shipped family "
        f"with {len(taken)} of {len(candidates)} candidates; {verdict}", flush=True)
  return report


def weights_description(history):
  """What a card says of its weights: float16, and every precision its chunks trained in."""
  precisions = list(dict.fromkeys(chunk["config"].get("precision", "float32")
                                  for chunk in history))
  return f"float16 convolutions (trained in {', then '.join(precisions)})"


def _chunk(run, judged):
  """A chunk as a card's history records it: `run` (a candidate's kodak.json) and when its
  family was `judged` (an ISO time, which names the chunk in every card it reaches)."""
  return {"steps": run["steps"], "training_seconds": round(run["seconds"]),
          "cpus": run["cpus"], "date": judged[:10], "judged": judged, "config": run["config"],
          **zoo.kodak_figures(run)}


def _previous_report(after, family):
  """The report of the earlier --continue run of `family` in the work_dir `after`."""
  path = os.path.join(after, "report.json")
  if not os.path.exists(path):
    raise FileNotFoundError(f"--after={after} holds no finished --continue run "
                            f"(no report.json)")
  report = _read_record(path, ("family", "judged", "replaced"))
  if report["family"] != family:
    raise ValueError(f"--after={after} continued {report['family']}, not {family}")
  return report


def _read_record(path, keys):
  """The JSON object in `path` that a --continue run wrote, which has `keys`; a file that is
  not one (cut short, edited, or from before --after) is an error that says so."""
  try:
    with open(path) as f:
      record = json.load(f)
  except json.JSONDecodeError as error:
    raise ValueError(f"{path} is not JSON ({error})") from None
  missing = [key for key in keys if not isinstance(record, dict) or key not in record]
  if missing:
    raise ValueError(f"{path} lacks {', '.join(missing)}: not a record of a --continue run "
                     f"that --after can take")
  return record


def _copy_start(name, card, start, after, report):
  """Copies into `start` what entry `name` (its card `card`) continues from, with that card:
  its shipped weights, or its candidate in `after`, the work_dir of an earlier --continue run
  (its `report`) that kept the entry unshipped, with the unshipped chunks behind that
  candidate."""
  partial = start + ".partial"  # a kill while copying leaves no start that looks whole
  shutil.rmtree(partial, ignore_errors=True)
  previous = after and os.path.join(after, name)
  if previous and os.path.exists(os.path.join(previous, "kodak.json")):
    with open(os.path.join(previous, "start", zoo.CARD_FILE)) as f:
      if json.load(f) != card or name in report["replaced"]:
        raise ValueError(f"{previous} continued another version of {name} than the zoo's: "
                         f"--after takes a run whose family kept the zoo's entries")
    run = _read_record(os.path.join(previous, "kodak.json"),
                       ("steps", "seconds", "cpus", "config", "kodak"))
    chunks = _unshipped_chunks(os.path.join(previous, "start")) + [_chunk(run, report["judged"])]
    shutil.copytree(os.path.join(previous, "candidate"), partial)
    with open(os.path.join(partial, UNSHIPPED_CHUNKS), "w") as f:
      json.dump(chunks, f, indent=1)
  else:
    shutil.copytree(zoo.path(name), partial)
  with open(os.path.join(partial, zoo.CARD_FILE), "w") as f:
    json.dump(card, f, indent=2, sort_keys=True)
  os.replace(partial, start)


def _unshipped_chunks(start):
  """The chunks trained since the shipped weights, behind the weights in `start`."""
  path = os.path.join(start, UNSHIPPED_CHUNKS)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return json.load(f)


def _replace(name, chunk, root, kodak_images):
  """Makes the candidate in `root` (a --continue work_dir's directory for `name`) the zoo
  entry `name`, its card extended by the unshipped chunks behind it and the `chunk` just
  trained."""
  card = zoo.card(name)
  history = zoo.lineage(card) + _unshipped_chunks(os.path.join(root, "start")) + [chunk]
  card.update(steps=chunk["steps"], training_seconds=chunk["training_seconds"],
              config=chunk["config"], kodak_images=kodak_images, history=history,
              **zoo.kodak_figures(chunk), weights=weights_description(history),
              total_steps=sum(part["steps"] for part in history),
              total_training_seconds=sum(part["training_seconds"] for part in history),
              cpu_hours=round(sum(part["training_seconds"] * part["cpus"]
                                  for part in history) / 3600, 2))
  entry = zoo.path(name)
  new, retired = (os.path.join(zoo.DIRECTORY, f".{name}.{suffix}") for suffix in ("new", "old"))
  shutil.rmtree(new, ignore_errors=True)
  shutil.copytree(os.path.join(root, "candidate"), new)
  with open(os.path.join(new, zoo.CARD_FILE), "w") as f:
    json.dump(card, f, indent=2, sort_keys=True)
  os.replace(entry, retired)  # a kill between these renames: `_restore_retired_entries`
  os.replace(new, entry)
  shutil.rmtree(retired)


def _restore_retired_entries():
  """Puts back an entry that a killed `_replace` left hidden as .NAME.old."""
  for hidden in os.listdir(zoo.DIRECTORY):
    entry = os.path.join(zoo.DIRECTORY, hidden[1:-len(".old")])
    if hidden.startswith(".") and hidden.endswith(".old") and not os.path.exists(entry):
      os.replace(os.path.join(zoo.DIRECTORY, hidden), entry)
