"""Files written under one set of CPU kernels, decoded under another: the cross-ISA matrix.

Each zoo model (and the Cheng20 entry in the serial context mode too) codes Kodak crops with both
coders, with integer and with float entropy parameters, in one process per kernel setting
(the default, oneDNN limited to AVX2, oneDNN off); then every setting decodes every other
setting's files. A file decodes exactly, or is refused (its symbol checks fail), or decodes
to the wrong image (never seen: the checks exist for it):

    python -m tests.portability [--images=2] [--crop=256]     # `make stress` runs it

Prints one line per (model, parameters) and the totals; exits 1 if an integer file was
refused or wrong.
"""

import argparse
import collections
import itertools
import json
import os
import subprocess
import sys
import tempfile

SETTINGS = {"default": {}, "avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
            "onednn-off": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
MODELS = ["balle2017-mse-0.01", "balle2018-mse-0.01", "cheng2020-mse-0.015:checkerboard",
          "cheng2020-mse-0.015:serial"]  # `benchmarks.common.zoo_model` names

def images(count, crop):
  from tfquant import data
  paths = data.image_paths(data.shared_dir("kodak"))[:count]
  return {os.path.basename(p): data.read_image(p)[:crop, :crop] for p in paths}


def encode(directory, count, crop):
  """Writes every file of this process's kernels to `directory`."""
  from benchmarks import common
  from tfquant import coding
  crops = images(count, crop)
  for spec in MODELS:
    model = common.zoo_model(spec)
    for (name, image), coder, integer in itertools.product(
        crops.items(), coding.coders.NAMES, (True, False)):
      if integer and not model.has_integer_parameters:
        continue
      path = os.path.join(directory, f"{spec}.{name}.{coder}.{int(integer)}.tfq")
      with open(path, "wb") as f:
        f.write(coding.encode(model, image, coder=coder, integer=integer))


def decode(directory, count, crop):
  """{file: "exact" | "refused" | "wrong"} for every file in `directory`, by this process."""
  import numpy as np
  from benchmarks import common
  from tfquant import coding
  crops = images(count, crop)
  outcomes = {}
  for spec in MODELS:
    model = common.zoo_model(spec)
    reference = {}
    for file in sorted(f for f in os.listdir(directory) if f.startswith(spec + ".")):
      _, name, extension, _, integer, _ = file.rsplit(".", 5)
      key = (f"{name}.{extension}", integer == "1")
      if key not in reference:  # what this process decodes from its own encoding
        reference[key] = coding.decode(model, coding.encode(model, crops[key[0]],
                                                            integer=key[1]))
      try:
        decoded = coding.decode(model, open(os.path.join(directory, file), "rb").read())
        outcomes[file] = "exact" if np.array_equal(decoded, reference[key]) else "wrong"
      except coding.BitstreamError:
        outcomes[file] = "refused"
  return outcomes


def run(role, setting, directory, args, results=None):
  command = [sys.executable, "-m", "tests.portability", f"--role={role}",
             f"--directory={directory}", f"--images={args.images}", f"--crop={args.crop}"]
  if results:
    command.append(f"--results={results}")
  environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **SETTINGS[setting])
  subprocess.run(command, check=True, env=environment,
                 cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=2)
  parser.add_argument("--crop", type=int, default=256)
  parser.add_argument("--role", choices=("encode", "decode"))
  parser.add_argument("--directory")
  parser.add_argument("--results")
  args = parser.parse_args()
  if args.role == "encode":
    return encode(args.directory, args.images, args.crop)
  if args.role == "decode":
    with open(args.results, "w") as f:
      json.dump(decode(args.directory, args.images, args.crop), f)
    return None
  totals = collections.Counter()
  with tempfile.TemporaryDirectory() as tmp:
    for setting in SETTINGS:
      os.makedirs(os.path.join(tmp, setting))
      run("encode", setting, os.path.join(tmp, setting), args)
    for writer, reader in itertools.permutations(SETTINGS, 2):
      results = os.path.join(tmp, f"{writer}-{reader}.json")
      run("decode", reader, os.path.join(tmp, writer), args, results)
      with open(results) as f:
        for file, outcome in json.load(f).items():
          spec, _, _, _, integer, _ = file.rsplit(".", 5)
          integer = integer == "1"
          totals[spec, integer, outcome] += 1
  print(f"{len(SETTINGS)} kernel settings, both directions; {args.images} Kodak crops of "
        f"{args.crop}², both coders:")
  for spec, integer in sorted({(s, i) for s, i, _ in totals}):
    counts = {o: totals[spec, integer, o] for o in ("exact", "refused", "wrong")}
    print(f"  {spec:36} {'integer' if integer else 'float  '} " +
          ", ".join(f"{n} {o}" for o, n in counts.items()))
  for integer in (True, False):
    counts = {o: sum(n for (s, i, oo), n in totals.items() if i == integer and oo == o)
              for o in ("exact", "refused", "wrong")}
    print(f"{'integer' if integer else 'float'} parameters: " +
          ", ".join(f"{n} {o}" for o, n in counts.items()))
  failed = sum(n for (s, i, o), n in totals.items() if i and o != "exact")
  sys.exit(1 if failed else 0)


if __name__ == "__main__":
  main()
