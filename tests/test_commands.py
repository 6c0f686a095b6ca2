"""The commands as users meet them: bad invocations (one `error:` line, status 2 for usage,
never a traceback), an installed wheel, --target_bpp, decompress finding its model."""

import os
import shlex
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tfquant import coding, data, models, zoo

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(data.sample_dir(), "*.png")


def bad_invocations(tmp):
  """(command and arguments, expected exit status: 2 for usage errors[, what the error
  says])."""
  a_file = os.path.join(tmp, "a_file")
  foreign = os.path.join(tmp, "foreign.json")
  not_tfq = os.path.join(tmp, "x.tfq")
  for path, text in ((a_file, "x"), (foreign, '{"rows": []}'), (not_tfq, "not a tfq file")):
    with open(path, "w") as f:
      f.write(text)
  run = os.path.join(tmp, "run")
  image = data.image_paths(data.sample_dir())[0]
  not_from_the_zoo = os.path.join(tmp, "other.tfq")
  model = models.create("balle2017", num_filters=8)
  model.finalize()
  with open(not_from_the_zoo, "wb") as f:
    f.write(coding.encode(model, data.read_image(image)[:32, :32]))
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
      (["codec", "compress", "--model=zoo:balle2018-mse-0.01", "--target_bpp=-1", image,
        f"{tmp}/x.tfq"], 2),
      (["codec", "compress", "--model=zoo:balle2018-mse-0.01", image, f"{tmp}/nodir/x.tfq"], 1),
      (["evaluate", "--baseline=jpeg", "--qualities=500", f"--out={tmp}/j.json"], 1),
      (["evaluate", "--baseline=jpeg", "--qualities=abc", f"--out={tmp}/j.json"], 2),
      (["evaluate", "--baseline=jpeg", "--qualities=50", f"--out={a_file}/j.json"], 1),
      (["export", "--model=zoo:balle2018-mse-0.01", f"--export_dir={a_file}"], 1),
      (["codec", "decompress", not_from_the_zoo, f"{tmp}/y.png"], 1,
       "no --model given and no zoo model wrote"),
      (["evaluate", "--model=zoo:balle2018-mse-0.01", "--model=zoo:balle2018-mse-0.01",
        f"--out={tmp}/e.json"], 2, "more than once"),
      (["evaluate", "--model=zoo:", "--model=zoo:balle2018-mse-0.01", f"--out={tmp}/e.json"], 2,
       "more than once"),
      (["evaluate", "--model=zoo:nothing-*", f"--out={tmp}/e.json"], 1, "the zoo has"),
      (["codec", "compress", "--model=zoo:nothing", image, f"{tmp}/x.tfq"], 1, "the zoo has"),
      (["zoo", "balle2018"], 2),
  ]


def test_bad_invocations_fail_with_one_error_line(tmp_path):
  cases = bad_invocations(str(tmp_path))
  # As from a shell: the commands' own TensorFlow log level, whatever this process set.
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
  processes = []
  for start in range(0, len(cases), 4):  # four TensorFlow start-ups at a time
    batch = [subprocess.Popen([sys.executable, os.path.join(REPO, "bin", args[0]), *args[1:]],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=env)
             for args, *_ in cases[start:start + 4]]
    processes += [(p, *p.communicate(timeout=300)) for p in batch]
  wrong = []
  for (args, status, *says), (process, output, _) in zip(cases, processes):
    lines = [line for line in output.strip().splitlines() if line.strip()]
    if not (process.returncode == status and "Traceback" not in output and len(lines) == 1
            and lines[0].startswith("error: ") and "File exists" not in output
            and ".tmp-" not in output and all(part in output for part in says)):
      wrong.append((args, process.returncode, output[-600:]))
  assert not wrong, "\n".join(map(str, wrong))
  assert not (tmp_path / "run").exists()  # refused before the run directory was touched


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
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), REPO],
                 check=True, timeout=300, capture_output=True)
  venv = tmp_path / "venv"
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
  python = str(venv / "bin" / "python")
  site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                        check=True, capture_output=True, text=True).stdout.strip()
  here = next(p for p in sys.path if p.endswith("site-packages"))
  with open(os.path.join(site, "dependencies.pth"), "w") as f:
    f.write(here + "\n")
  wheel = next((tmp_path / "dist").glob("tfquant-*.whl"))
  subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                  "--no-deps", str(wheel)], check=True, timeout=300, capture_output=True)
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
  assert "format version: 2" in outputs[2].stdout
  assert outputs[3].stdout.strip().startswith(site)
  assert "make-zoo" in outputs[5].stdout
  assert "tfquant codec compress" in outputs[6].stdout and "bin/" not in outputs[6].stdout
  listing = outputs[7].stdout.splitlines()
  assert listing[0].split()[:2] == ["name", "arch"] and len(listing) == 1 + len(zoo.names())
  assert all(line.split()[0] in zoo.names() for line in listing[1:])
  # A shipped grid by its short name; its first cell trains through the installed package.
  first_job = shlex.split(outputs[4].stdout.splitlines()[0])
  assert first_job[:4] == [python, "-m", "tfquant", "train"]
  trained_cell = subprocess.run(first_job, cwd=outside, capture_output=True, text=True,
                                timeout=300)
  assert trained_cell.returncode == 0, trained_cell.stderr[-2000:]
  assert list(outside.glob("runs/grid_smoke/balle2018/*/*/model"))


def test_target_bpp_chooses_among_models_and_decompress_finds_the_model(tmp_path):
  """Among a zoo family (--model=zoo:PATTERN, or a folder of them)."""
  names = [n for n in zoo.names() if n.startswith("balle2018-")]
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

  finish(codec("compress", "--model=zoo:balle2018-*", f"--target_bpp={target}", image_path,
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
    with pytest.raises(FileNotFoundError, match="the zoo has: balle2017-mse-0.001, .*balle2018-mse-0.0025"):
      zoo.expand(missing)
  rows = [zoo.describe(name) for name in zoo.names()]
  lines = command.table(rows).splitlines()
  assert len(lines) == 1 + len(rows)
  for line, row, card in zip(lines[1:], rows, map(zoo.card, zoo.names())):
    assert line.split()[:2] == [row["name"], row["arch"]]
    assert f"{card['kodak']['psnr']:.2f}" in line and f"{card['kodak']['bpp']:.4f}" in line
    assert 1 < row["megabytes"] < 20
