"""Every command, invoked badly: one `error:` line (status 2 for usage), never a traceback."""

import os
import subprocess
import sys

import pytest

from tfquant import data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(data.sample_dir(), "*.png")


def bad_invocations(tmp):
  """(command and arguments, expected exit status: 2 for usage errors)."""
  a_file = os.path.join(tmp, "a_file")
  foreign = os.path.join(tmp, "foreign.json")
  not_tfq = os.path.join(tmp, "x.tfq")
  for path, text in ((a_file, "x"), (foreign, '{"rows": []}'), (not_tfq, "not a tfq file")):
    with open(path, "w") as f:
      f.write(text)
  run = os.path.join(tmp, "run")
  return [
      (["train", "--config=missing.py"], 1),
      (["train", "--train_glob=nomatch/*.png", f"--train_dir={run}"], 1),
      (["train", f"--train_glob={SAMPLES}", f"--train_dir={a_file}/run"], 1),
      (["train", "--arch=nope", f"--train_glob={SAMPLES}", f"--train_dir={run}"], 1),
      (["train", "--steps=many"], 2),
      (["evaluate", "--baseline=png", f"--out={tmp}/x.json"], 2),
      (["evaluate", f"--plot={tmp}/rd.png", foreign], 1),
      (["evaluate", "--model=missing", f"--out={tmp}/x.json"], 1),
      (["serve-local", "--export_dir=missing"], 1),
      (["codec"], 2),
      (["codec", "decompress", "--model=zoo:balle2018-mse-0.01", not_tfq, f"{tmp}/x.jpg"], 2),
      (["codec", "decompress", "--model=zoo:balle2018-mse-0.01", not_tfq, f"{tmp}/x.png"], 1),
      (["codec", "compress", "--model=missing", a_file, f"{tmp}/x.tfq"], 1),
      (["codec", "compress", "--model=zoo:balle2018-mse-0.01", "--coder=zip", a_file,
        f"{tmp}/x.tfq"], 2),
      (["export", "--model=missing", f"--out={tmp}/export"], 1),
      (["export"], 2),
      (["compare", "--config=missing.py"], 1),
      (["serve-client", "--protocol=rest", "--server=localhost:9", "decompress", not_tfq,
        f"{tmp}/y.png"], 1),
  ]


def test_bad_invocations_fail_with_one_error_line(tmp_path):
  cases = bad_invocations(str(tmp_path))
  processes = []
  for start in range(0, len(cases), 4):  # four TensorFlow start-ups at a time
    batch = [subprocess.Popen([sys.executable, os.path.join(REPO, "bin", args[0]), *args[1:]],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for args, _ in cases[start:start + 4]]
    processes += [(p, *p.communicate(timeout=300)) for p in batch]
  wrong = []
  for (args, status), (process, output, _) in zip(cases, processes):
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if not (process.returncode == status and "Traceback" not in output and len(lines) == 1
            and lines[0].startswith("error: ")):
      wrong.append((args, process.returncode, output[-600:]))
  assert not wrong, "\n".join(map(str, wrong))
  assert not (tmp_path / "run").exists()  # refused before the run directory was touched
