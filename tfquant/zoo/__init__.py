"""Models trained on this project's CPUs and shipped in the package, loadable by name.

    models.load("zoo:balle2018-mse-0.01")      # or any command's --model=zoo:NAME

Each entry is a directory here holding what `tfquant.models.save` writes (`model.json`,
weights; float32) and `card.json`: the training configuration, steps, CPU time and its
Kodak figures. `configs/zoo_balle2018.py` and `docs/RESULTS.md` say how they were made.
"""

import json
import os

PREFIX = "zoo:"
DIRECTORY = os.path.dirname(os.path.abspath(__file__))
CARD_FILE = "card.json"


def names():
  return sorted(entry for entry in os.listdir(DIRECTORY)
                if os.path.isfile(os.path.join(DIRECTORY, entry, CARD_FILE)))


def path(name):
  """The directory of zoo entry `name` (with or without the "zoo:" prefix)."""
  name = name[len(PREFIX):] if name.startswith(PREFIX) else name
  if name not in names():
    raise FileNotFoundError(f"No zoo model {name!r}; the zoo has: {', '.join(names()) or 'none'}.")
  return os.path.join(DIRECTORY, name)


def card(name):
  with open(os.path.join(path(name), CARD_FILE)) as f:
    return json.load(f)
