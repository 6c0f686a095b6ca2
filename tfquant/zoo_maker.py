"""Trains the model zoo (`bin/make-zoo`) and writes its entries into `tfquant/zoo/`.

One run from scratch (the config's CONFIG), then one fine-tune per other λ (ZOO["finetune"])
from its final weights. Runs resume after any interruption (each is a `tfquant.train` run
directory); a finished run's model is evaluated on Kodak with real files and saved, with a
card, as a zoo entry.
"""

import dataclasses
import json
import os
import time

from tfquant import data, evaluate, models, train, zoo


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


def write_entry(name, config, steps, seconds, images):
  """Writes a finished run as tfquant/zoo/<name> (float16 weights) and evaluates what was
  written on `images`."""
  directory = os.path.join(zoo.DIRECTORY, name)
  models.save(models.load(config.train_dir), directory, float16=True)
  point = evaluate.evaluate(evaluate.ModelCodec(models.load(directory), label=name), images)
  card = {"name": name, "steps": steps, "training_seconds": round(seconds),
          "cpus": os.cpu_count(), "weights": f"float16 convolutions (trained in {config.precision})",
          "config": dataclasses.asdict(config),
          "kodak": {k: point["mean"][k] for k in ("bpp", "psnr", "ms_ssim", "ms_ssim_db")},
          "kodak_images": len(images)}
  card["config"]["train_dir"] = card["config"]["init_from"] = None  # machine-specific paths
  card["config"]["train_glob"] = os.path.basename(os.path.dirname(config.train_glob or ""))
  with open(os.path.join(directory, zoo.CARD_FILE), "w") as f:
    json.dump(card, f, indent=2, sort_keys=True)
  return card


def make(config_file, work_dir, only=None, train_missing=True):
  """Trains (or resumes) the runs of `config_file` in `work_dir` (`only`: those λ) and writes
  each finished one as a zoo entry."""
  plan = runs(config_file, work_dir)
  unknown = sorted(set(only or ()) - {lmbda for lmbda, _, _ in plan})
  if unknown:
    raise ValueError(f"{config_file} has no run at λ {', '.join(map(str, unknown))}; its λ: "
                     f"{', '.join(str(lmbda) for lmbda, _, _ in plan)}.")
  images = data.image_paths(data.shared_dir("kodak") or data.sample_dir())
  for lmbda, name, settings in plan:
    if only and lmbda not in only:
      continue
    config = train.resolve_config(overrides=settings)
    if train_missing:
      steps, seconds = _timed_train(config)
    elif os.path.exists(os.path.join(config.train_dir, models.RUN_MODEL_DIR)):
      with open(os.path.join(config.train_dir, "seconds.json")) as f:
        steps, seconds = config.steps, json.load(f)["seconds"]
    else:
      continue
    card = write_entry(name, config, steps, seconds, images)
    print(f"{name}: {steps} steps, {seconds / 3600:.2f} h; Kodak bpp "
          f"{card['kodak']['bpp']:.4f}, PSNR {card['kodak']['psnr']:.2f} dB", flush=True)
