"""The commands as users meet them: bad invocations (one `error:` line, status 2 for usage,
never a traceback), an installed wheel, --target_bpp, decompress finding its model."""

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfquant import coding, commands, data, models, zoo
from tests import sweep

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(data.sample_dir(), "*.png")


def test_a_sample_of_the_sweep_ends_as_each_case_says(tmp_path):
  """Every eleventh case of `make sweep` (tests/sweep.py: one `error:` line, the right status,
  Ctrl-C and closed pipes included) from the checkout."""
  sample = sweep.cases(str(tmp_path))[::11]
  assert {case.args[0] for case in sample} >= set(commands.NAMES)
  failures = sweep.sweep(sample, cwd=str(tmp_path))
  assert not failures, "\n".join(f"{' '.join(c.args)}: {problem}" for c, problem in failures)
  assert not (tmp_path / "run").exists()  # refused before the run directory was touched


def test_a_ctrl_c_that_pybind11_wrapped_ends_as_an_interrupt(tmp_path):
  """A Ctrl-C during a C++ callback into Python (a step being traced) arrives as pybind11's
  RuntimeError("KeyboardInterrupt: ...At: frames"): status 130 and "interrupted", as any
  Ctrl-C; another RuntimeError stays an error of status 1."""
  script = tmp_path / "command.py"
  script.write_text(
      '"""A command."""\nimport sys\nfrom tfquant import commands\n'
      'def main(argv):\n'
      '  raise RuntimeError(sys.stdin.read())\n'
      'commands.run(main, errors=(RuntimeError,))\n')
  for message, status, line in [
      ("KeyboardInterrupt: \n\nAt:\n  loop.py(124): fit\n", 130, "error: interrupted"),
      ("step failed", 1, "error: step failed")]:
    done = subprocess.run([sys.executable, str(script)], input=message, capture_output=True,
                          text=True, cwd=REPO, timeout=120)
    assert (done.returncode, done.stderr.strip().splitlines()) == (status, [line])


def test_help_lists_the_commands_and_a_closed_pipe_is_no_error(tmp_path):
  listing = subprocess.run([sys.executable, "-m", "tfquant", "--help"], capture_output=True,
                           text=True, timeout=120)
  assert listing.returncode == 0, listing.stderr
  for name in ("train", "codec", "evaluate", "compare", "export", "serve-local"):
    assert f"\n  {name} " in listing.stdout
  data_file, gray = tmp_path / "x.tfq", tmp_path / "gray.png"
  Image.fromarray(data.read_image(data.image_paths(data.sample_dir())[0])[..., 0]).save(gray)
  compressed = subprocess.run([sys.executable, os.path.join(REPO, "bin", "codec"), "compress",
                               "--model=zoo:balle2018-mse-0.01", str(gray), str(data_file)],
                              check=True, capture_output=True, text=True, timeout=300)
  # a warning is one plain line: no source path, line number or category
  assert compressed.stderr == f"warning: {gray}: L image converted to RGB.\n", compressed.stderr
  for args in (["evaluate", "--help"], ["codec", "info", str(data_file)]):
    reader = subprocess.Popen([sys.executable, os.path.join(REPO, "bin", args[0]), *args[1:]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader.stdout.close()  # before the command writes: as `| head` that has read its lines
    errors = reader.stderr.read()
    assert reader.wait(timeout=120) == 0 and not errors, (args, errors)


def test_entry_points_from_a_wheel_in_a_fresh_venv(tmp_path):
  """`pip install` of the wheel alone gives `tfquant ...`, `tfquant-codec` and `python -m
  tfquant`, with the zoo and samples inside (dependencies come from this environment's
  site-packages through a path file, so nothing is downloaded)."""
  bin_dir = sweep.install_wheel(str(tmp_path))
  venv = tmp_path / "venv"
  python = str(venv / "bin" / "python")
  site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                        check=True, capture_output=True, text=True).stdout.strip()
  image = data.image_paths(data.sample_dir())[0]
  outside = tmp_path / "elsewhere"  # not the checkout: only the installed package is there
  outside.mkdir()
  runs = [[str(venv / "bin" / "tfquant"), "codec", "compress", "--model=zoo:balle2018-mse-0.01",
           image, "x.tfq"],
          [str(venv / "bin" / "tfquant-codec"), "decompress", "--model=zoo:balle2018-mse-0.01",
           "x.tfq", "x.png"],
          [python, "-m", "tfquant", "codec", "info", "x.tfq"],
          [python, "-c", "import tfquant; print(tfquant.__file__)"],
          [str(venv / "bin" / "tfquant"), "compare", "--config=grid_smoke", "--print_jobs"],
          [str(venv / "bin" / "tfquant"), "--help"],
          [str(venv / "bin" / "tfquant"), "codec", "--help"],
          [str(venv / "bin" / "tfquant"), "zoo"]]
  outputs = [subprocess.run(args, cwd=outside, capture_output=True, text=True, timeout=300)
             for args in runs]
  for args, result in zip(runs, outputs):
    assert result.returncode == 0, (args, result.stderr[-2000:])
  assert data.read_image(str(outside / "x.png")).shape == data.read_image(image).shape
  info = outputs[2].stdout
  assert f"format version: {coding.container.VERSION}" in info
  assert "side information check:" in info
  assert outputs[3].stdout.strip().startswith(site)
  assert "make-zoo" in outputs[5].stdout
  assert "tfquant codec compress" in outputs[6].stdout and "bin/" not in outputs[6].stdout
  listing = outputs[7].stdout.splitlines()
  assert listing[0].split()[:2] == ["name", "arch"] and len(listing) == 1 + len(zoo.names())
  assert all(line.split()[0] in zoo.names() for line in listing[1:])
  os.mkdir(tmp_path / "cases")
  sample = sweep.cases(str(tmp_path / "cases"))[2::25]  # mistakes, as `tfquant COMMAND`
  failures = sweep.sweep(sample, installed=bin_dir, cwd=str(outside))
  assert not failures, "\n".join(f"{' '.join(c.args)}: {problem}" for c, problem in failures)
  # A shipped grid by its short name; its first cell trains through the installed package.
  first_job = shlex.split(outputs[4].stdout.splitlines()[0])
  assert first_job[:4] == [python, "-m", "tfquant", "train"]
  trained_cell = subprocess.run(first_job, cwd=outside, capture_output=True, text=True,
                                timeout=300)
  assert trained_cell.returncode == 0, trained_cell.stderr[-2000:]
  assert list(outside.glob("runs/grid_smoke/balle2018/*/*/model"))


def test_target_bpp_chooses_among_models_and_decompress_finds_the_model(tmp_path):
  """Among a zoo family (--model=zoo:PATTERN, or a folder of them)."""
  names = [n for n in zoo.names() if n.startswith("balle2018-mse-")]
  family = tmp_path / "models"
  family.mkdir()
  for name in names:
    os.symlink(zoo.path(name), family / name)
  image_path = data.image_paths(data.sample_dir())[1]
  image = data.read_image(image_path)
  loaded = [models.load(zoo.PREFIX + name) for name in names]
  rates = sorted((8 * len(coding.encode(m, image)) / image[..., 0].size, i)
                 for i, m in enumerate(loaded))
  (middle, middle_model), (high, high_model) = rates[-2:]
  assert rates[0][0] < middle < high
  target = high - 0.2 * (high - middle)  # closest: the highest-rate model; at or under: middle

  def codec(*args):
    return subprocess.Popen([sys.executable, os.path.join(REPO, "bin", "codec"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=tmp_path)

  def finish(*processes):
    outputs = [p.communicate(timeout=300)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    return outputs

  finish(codec("compress", "--model=zoo:balle2018-mse-*", f"--target_bpp={target}", image_path,
               "closest.tfq"),
         codec("compress", f"--model={family}", f"--target_bpp={target}", "--bpp_strict",
               image_path, "strict.tfq"))
  for file, index, rate in (("closest.tfq", high_model, high), ("strict.tfq", middle_model,
                                                                  middle)):
    payload = (tmp_path / file).read_bytes()
    assert 8 * len(payload) / image[..., 0].size == rate
    assert coding.decode(loaded[index], payload).shape == image.shape
  # decompress: the model is found by the file's fingerprint, in a folder or in the zoo.
  finish(codec("decompress", f"--model={family}", "strict.tfq", "from_folder.png"),
         codec("decompress", "strict.tfq", "from_zoo.png"))
  expected = coding.decode(loaded[middle_model], (tmp_path / "strict.tfq").read_bytes())
  for png in ("from_folder.png", "from_zoo.png"):
    np.testing.assert_array_equal(data.read_image(str(tmp_path / png)), expected)


def test_train_takes_lambda_distortion_and_top_level_settings(tmp_path):
  from absl import flags
  from tfquant import train
  from tfquant.commands import train as command  # (defines its flags in this process)
  base = {"quantizer_params": {"sga": {"decay": 1e-3}}}
  assert command.nested_overrides(["steps=5", "quantizer_params.dsq.learnable=true"], base) == {
      "steps": 5, "quantizer_params": {"sga": {"decay": 1e-3}, "dsq": {"learnable": True}}}
  flags.FLAGS(["train", "--lambda=0.05", "--distortion=ms-ssim"])
  try:
    assert flags.FLAGS["lambda"].value == 0.05 and flags.FLAGS["lambda"].present
    assert flags.FLAGS.lmbda == 0.05  # the older name
  finally:
    flags.FLAGS.unparse_flags()
  config = train.resolve_config(overrides=dict(distortion="ms-ssim", lmbda=0.05,
                                               train_glob="x", train_dir=str(tmp_path)))
  assert config.model_options()["distortion"] == "ms-ssim"


def test_zoo_patterns_name_models_and_the_listing_shows_their_figures():
  from tfquant.commands import zoo as command
  everything = [zoo.PREFIX + name for name in zoo.names()]
  assert zoo.expand("zoo:") == zoo.expand("zoo:*") == everything
  assert zoo.expand("zoo:balle2018-*") == [n for n in everything if "balle2018-" in n]
  assert zoo.expand("zoo:balle2018-mse-0.01") == ["zoo:balle2018-mse-0.01"]
  for missing in ("zoo:nothing-*", "zoo:nothing"):
    with pytest.raises(FileNotFoundError,
                       match="the zoo has: balle2017-mse-0.001, .*balle2018-mse-0.0025"):
      zoo.expand(missing)
  rows = [zoo.describe(name) for name in zoo.names()]
  lines = command.table(rows).splitlines()
  assert len(lines) == 1 + len(rows)
  for line, row, card in zip(lines[1:], rows, map(zoo.card, zoo.names())):
    assert line.split()[:2] == [row["name"], row["arch"]]
    assert f"{card['kodak']['psnr']:.2f}" in line and f"{card['kodak']['bpp']:.4f}" in line
    assert 1 < row["megabytes"] < 20
