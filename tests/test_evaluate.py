import json
import math
import re
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tfquant import compare, data, evaluate, rd_curves, zoo
from tests.helpers import sample_image, trained

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_psnr_known_values():
  image = sample_image(64, 64)
  assert evaluate.psnr(image, image) == evaluate.PSNR_CAP_DB  # never inf
  noisy = np.clip(image.astype(np.int32) + np.random.RandomState(0).choice([-5, 5],
                                                                           image.shape), 0, 255)
  mse = np.mean((noisy - image.astype(np.int32))**2)
  assert evaluate.psnr(image, noisy) == pytest.approx(10 * np.log10(255**2 / mse))
  flat = np.full((8, 8, 3), 100, np.uint8)
  assert evaluate.psnr(flat, flat + 10) == pytest.approx(10 * np.log10(255**2 / 100))


def test_ms_ssim_known_values():
  image = sample_image(256, 256)
  assert evaluate.ms_ssim(image, image) == pytest.approx(1.0, abs=1e-6)
  noisy = np.clip(image + np.random.RandomState(1).normal(0, 20, image.shape), 0,
                  255).astype(np.uint8)
  value = evaluate.ms_ssim(image, noisy)
  assert 0.5 < value < 0.99
  assert rd_curves.to_db(value) == pytest.approx(-10 * np.log10(1 - value))
  assert evaluate.ms_ssim(image[:32, :32], noisy[:32, :32]) < 1.0  # fewer scales still work
  assert np.isnan(evaluate.ms_ssim(image[:8, :8], noisy[:8, :8]))


def test_bpp_is_file_bytes(tmp_path):
  model = trained("balle2018", "universal", "dsq")
  codec = evaluate.ModelCodec(model)
  image = sample_image(48, 72)
  row, reconstruction = evaluate.measure(codec, image, estimate=True)
  assert row["bpp"] == 8 * len(codec.encode(image)) / (48 * 72)
  assert row["estimated_bpp"] < row["bpp"]  # the file adds its header
  jpeg = evaluate.PillowCodec("jpeg", 50)
  row, _ = evaluate.measure(jpeg, image)
  assert row["bpp"] == 8 * len(jpeg.encode(image)) / (48 * 72)


def test_bin_evaluate_baseline_then_plot(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for path in data.image_paths(data.sample_dir())[:2]:
    (images / os.path.basename(path)).write_bytes(open(path, "rb").read())

  def bin_evaluate(*args):
    return subprocess.run([sys.executable, os.path.join(REPO, "bin", "evaluate"), *args],
                          capture_output=True, text=True, timeout=300)

  coded = bin_evaluate("--baseline=jpeg", "--qualities=20,60,90", f"--images={images}",
                       f"--out={tmp_path / 'jpeg.json'}")
  assert coded.returncode == 0, coded.stderr
  assert len(rd_curves.load_points(str(tmp_path / "jpeg.json"))) == 3
  webp = [evaluate.evaluate(evaluate.PillowCodec("webp", q), data.image_paths(str(images)))
          for q in (20, 60, 90)]
  rd_curves.save_points(webp, str(tmp_path / "webp.json"))
  bpg = {"name": "BPG", "description": "as CompressAI publishes its curves",
         "results": {"bpp": [0.2, 0.5, 1.0], "psnr-rgb": [28.0, 31.5, 35.0],
                     "ms-ssim": [0.93, 0.965, 0.985]}}
  (tmp_path / "bpg.json").write_text(json.dumps(bpg))
  plotted = bin_evaluate(f"--plot={tmp_path / 'rd.svg'}", str(tmp_path / "jpeg.json"),
                         str(tmp_path / "webp.json"), str(tmp_path / "bpg.json"))
  assert plotted.returncode == 0, plotted.stderr
  assert "(vs JPEG)" in plotted.stdout and "WebP" in plotted.stdout and "BPG" in plotted.stdout
  assert (tmp_path / "rd.svg").read_text().count("stroke-dasharray") > 0  # baselines dashed
  unplottable = bin_evaluate(f"--plot={tmp_path / 'x.png'}")
  assert unplottable.returncode != 0 and "needs result JSON files" in unplottable.stderr

def test_several_models_one_labelled_curve_estimate_and_progress_on_a_terminal(tmp_path):
  """As CompressAI's `eval_model checkpoint -p A B`: one results file, one curve; on a
  terminal a line per point counts the images (quiet when stderr is a pipe)."""
  import pty
  images = tmp_path / "images"
  images.mkdir()
  for path in data.image_paths(data.sample_dir())[:2]:
    (images / os.path.basename(path)).write_bytes(open(path, "rb").read())
  controller, terminal = pty.openpty()
  process = subprocess.Popen(
      [sys.executable, os.path.join(REPO, "bin", "evaluate"), "--model=zoo:balle2018-mse-0.01",
       "--model=zoo:balle2018-mse-0.02", "--label=mine", "--estimate", f"--images={images}",
       f"--out={tmp_path / 'e.json'}"], stdout=subprocess.PIPE, stderr=terminal, text=True)
  os.close(terminal)
  shown = b""
  while True:
    try:
      chunk = os.read(controller, 4096)
    except OSError:  # the command closed its end
      break
    if not chunk:
      break
    shown += chunk
  output = process.communicate(timeout=300)[0]
  assert process.returncode == 0, shown
  assert b"mine: 2/2 images" in shown and b"left" in shown
  assert output.count("(estimated ") == 2 and "λ=0.01" in output and "λ=0.02" in output
  points = rd_curves.load_points(str(tmp_path / "e.json"))
  assert [p["label"] for p in points] == ["mine", "mine"]
  assert len(rd_curves.curves(points)["mine"]) == 2


def test_grid_smoke_end_to_end(tmp_path):
  grid = compare.load_grid(os.path.join(REPO, "configs", "grid_smoke.py"))
  grid["out_dir"] = str(tmp_path / "grid")
  images = tmp_path / "images"  # two images evaluate every cell as well as six, in a third
  images.mkdir()
  for path in data.image_paths(data.sample_dir())[:2]:
    (images / os.path.basename(path)).write_bytes(open(path, "rb").read())
  grid["eval_images"] = str(images)
  grid["record"] = str(tmp_path / "committed" / "cells.json")
  grid["lambdas"] = [0.003, 0.03]  # two points make a curve; a third cell would only add time
  jobs = subprocess.run([sys.executable, os.path.join(REPO, "bin", "compare"),
                         "--config=configs/grid_smoke.py", "--print_jobs"], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
  assert jobs.returncode == 0 and len(jobs.stdout.strip().splitlines()) == 6
  assert all(" -m tfquant train " in line and "--ent_quant=" in line
             for line in jobs.stdout.splitlines())
  result, failures = compare.run(grid, jobs=2, log=lambda message: None)
  assert not failures
  arch = result["archs"]["balle2018"]
  rows = {row["pair"]: row for row in arch["pairs"]}
  assert set(rows) == {"AUN-Q/AUN-Q", "U-Q/DS-Q", "JPEG"}
  assert rows["AUN-Q/AUN-Q"]["bd_rate_psnr"] == pytest.approx(0.0, abs=1e-9)
  assert len(rows["U-Q/DS-Q"]["points"]) == 2
  assert arch["best_pair"] in ("AUN-Q/AUN-Q", "U-Q/DS-Q")
  out = grid["out_dir"]
  assert open(os.path.join(out, "rd_balle2018.png"), "rb").read(4) == b"\x89PNG"
  report = open(os.path.join(out, "report.md")).read()
  assert "U-Q/DS-Q" in report and "BD-rate" in report
  with open(os.path.join(out, "report.json")) as f:
    assert json.load(f)["archs"]["balle2018"]["best_pair"] == arch["best_pair"]
  # Resuming trains nothing and re-uses the cached evaluations.
  messages = []
  compare.run(grid, jobs=2, log=messages.append)
  assert messages[0].startswith("0 of 4 runs to train")
  assert not any(m.startswith(("training", "evaluating")) for m in messages)
  # On another machine only the record is left: nothing is trained, the report is the same,
  # and a cell missing from the record is the only one trained again.
  with open(grid["record"]) as f:
    record = json.load(f)
  assert len(record["cells"]) == 4
  del record["cells"]["balle2018/noise-noise/lambda_0.03"]
  with open(grid["record"], "w") as f:
    json.dump(record, f)
  shutil.rmtree(out)
  messages = []
  again, _ = compare.run(grid, jobs=2, log=messages.append)
  assert messages[0].startswith("1 of 4 runs to train")
  assert [m for m in messages if m.startswith("training")] == [
      f"training {os.path.join(out, 'balle2018', 'noise-noise', 'lambda_0.03')}"]
  assert any(m.startswith("[1/1] balle2018/noise-noise/lambda_0.03 ended") for m in messages)
  assert again["archs"]["balle2018"]["pairs"][1]["points"] == rows["U-Q/DS-Q"]["points"]
  with open(grid["record"]) as f:
    assert len(json.load(f)["cells"]) == 4

  # The anchor as one variable-rate model, measured against the fixed-rate grid.
  vbr = dict(grid, out_dir=str(tmp_path / "vbr"), pairs=[compare.ANCHOR],
             lambdas=[(0.003, 0.03)], eval_rates=3, baselines={},
             record=str(tmp_path / "committed" / "vbr.json"),
             fixed_report=os.path.join(out, "report.json"))
  result, failures = compare.run(vbr, log=lambda message: None)
  assert not failures
  arch = result["archs"]["balle2018"]
  (anchor,) = arch["pairs"]
  assert [p["lmbda"] for p in anchor["points"]] == pytest.approx([0.003, 0.003 * 10 ** 0.5, 0.03])
  assert [p["bpp"] for p in anchor["points"]] == sorted(p["bpp"] for p in anchor["points"])
  (against,) = arch["against_fixed_rate"]
  assert against["pair"] == "AUN-Q/AUN-Q"
  assert [gap["lmbda"] for gap in against["gaps"]] == [0.003, 0.03]
  assert "Against fixed-rate models" in open(os.path.join(vbr["out_dir"], "report.md")).read()
  with open(vbr["record"]) as f:
    assert sorted(json.load(f)["cells"]) == [f"balle2018/noise-noise/lambda_0.003-0.03@{lmbda:.4g}"
                                             for lmbda in (0.003, 0.003 * 10 ** 0.5, 0.03)]
  shutil.rmtree(vbr["out_dir"])  # the record alone: nothing is trained or evaluated again
  messages = []
  compare.run(vbr, log=messages.append)
  assert messages[0].startswith("0 of 1 runs to train")
  assert not any(m.startswith(("training", "evaluating")) for m in messages)


def test_rate_gap_at_a_fixed_point():
  curve = [(0.2, 28.0, 0.0), (0.4, 30.0, 0.0), (0.8, 32.0, 0.0)]
  assert compare.rate_gap(curve, 0.4, 30.0) == pytest.approx(0.0)
  assert compare.rate_gap(curve, 0.5, 31.0) == pytest.approx(100 * (0.4 * 2 ** 0.5 / 0.5 - 1))
  assert math.isnan(compare.rate_gap(curve, 1.0, 33.0))  # beyond the curve
  assert math.isnan(compare.rate_gap([(0.2, 28.0), (0.4, 27.0)], 0.3, 27.5))  # not monotonic


def test_best_pair_falls_back_to_bd_psnr_when_a_bd_rate_is_undefined():
  nan = float("nan")
  rows = [{"pair": "AUN-Q/AUN-Q", "bd_rate_psnr": 0.0, "bd_psnr": 0.0},
          {"pair": "U-Q/DS-Q", "bd_rate_psnr": -8.0, "bd_psnr": 0.4},
          {"pair": "STE-Q/STE-Q", "bd_rate_psnr": 12.0, "bd_psnr": -0.5},
          {"pair": "JPEG", "baseline": True, "bd_rate_psnr": -50.0, "bd_psnr": 3.0}]
  assert compare.best_pair(rows) == ("U-Q/DS-Q", "BD-rate, PSNR")
  rows[1]["bd_rate_psnr"] = nan  # a non-monotonic curve: the anchor must not win by default
  assert compare.best_pair(rows) == ("U-Q/DS-Q", "BD-PSNR; some BD-rates undefined")
  assert compare.best_pair(rows[3:]) == (None, "no BD figures")


def test_grid_configs_load(tmp_path):
  mini = compare.load_grid(os.path.join(REPO, "configs", "grid_mini.py"))
  assert len(compare.cells(mini)) == 33 and ("universal", "dsq") in mini["pairs"]
  repeat = compare.load_grid(os.path.join(REPO, "configs", "grid_mini_seed1.py"))
  assert repeat["train"] == dict(mini["train"], seed=1)
  assert repeat["out_dir"] != mini["out_dir"] and len(compare.cells(repeat)) == 6
  assert all("--seed=1" in cell.train_command() for cell in compare.cells(repeat))
  paper = compare.load_grid(os.path.join(REPO, "configs", "grid_paper.py"))
  assert set(mini["pairs"]) <= set(paper["pairs"])
  balle2017 = compare.load_grid(os.path.join(REPO, "configs", "grid_finetune_balle2017.py"))
  cells = compare.cells(balle2017)
  assert len(cells) == 44 and {c.lmbda for c in cells} == {0.001, 0.003, 0.01, 0.03}
  for cell in cells:  # every start is a zoo model of that λ
    start = re.search(r"--init_from=(\S+)", " ".join(cell.train_command())).group(1)
    assert zoo.card(start[len(zoo.PREFIX):])["config"]["lmbda"] == cell.lmbda
  vbr = compare.load_grid(os.path.join(REPO, "configs", "grid_vbr.py"))
  cells = compare.cells(vbr)
  assert len(cells) == 5 and all(c.variable_rate and len(c.rates) == 7 for c in cells)
  vbr_seed1 = compare.load_grid(os.path.join(REPO, "configs", "grid_vbr_seed1.py"))
  assert vbr_seed1["train"] == dict(vbr["train"], seed=1)
  assert vbr_seed1["record"] != vbr["record"] and vbr_seed1["out_dir"] != vbr["out_dir"]
  assert all("--seed=1" in c.train_command() for c in compare.cells(vbr_seed1))
  assert all("--lmbda=0.0008" in c.train_command() and "--lmbda_max=0.05" in c.train_command()
             for c in cells)
  with open(vbr["fixed_report"]) as f:  # each pair has its fixed-rate curve to compare with
    fixed = {row["pair"] for row in json.load(f)["archs"]["balle2018"]["pairs"]}
  assert {compare.pair_label(pair) for pair in vbr["pairs"]} <= fixed
  def settings(cell):  # each model of a comparison trains the same way but for λ
    return [a for a in cell.train_command() if not a.startswith(("--lmbda", "--train_dir"))]
  for protocol in ("grid_vbr_minnen2018", "grid_vbr_minnen2018_finetune"):
    minnen, = compare.cells(compare.load_grid(os.path.join(REPO, "configs", f"{protocol}.py")))
    fixed = compare.cells(compare.load_grid(os.path.join(REPO, "configs",
                                                         f"{protocol}_fixed.py")))
    assert len(fixed) == 4 and all(settings(cell) == settings(minnen) for cell in fixed)
    assert minnen.lmbda == (min(c.lmbda for c in fixed), max(c.lmbda for c in fixed))
  start = re.search(r"--init_from=(\S+)", " ".join(minnen.train_command())).group(1)
  assert start == compare.Cell(compare.load_grid(os.path.join(
      REPO, "configs", "grid_vbr_minnen2018_fixed.py")), "minnen2018", compare.ANCHOR,
      0.005).run_dir  # the common start is a model of the grid from scratch
  listed, = compare.cells(compare.load_grid(os.path.join(REPO, "configs", "grid_vbr_list.py")))
  drawn = re.search(r"--lmbda_list=(\S+)", " ".join(listed.train_command())).group(1)
  rates = list(listed.rates.values())  # the list's λ are every other evaluated rate
  np.testing.assert_allclose([float(l) for l in drawn.split(",")], rates[::2], rtol=1e-5)
  mixed = tmp_path / "mixed.py"
  mixed.write_text("GRID = dict(out_dir='x', archs={'balle2018': {}}, pairs=[('noise', "
                   "'noise')], lambdas=[0.01, (0.001, 0.1)], train={})\n")
  with pytest.raises(ValueError, match="one \\(low, high\\) range"):
    compare.load_grid(str(mixed))
  # The fixed-rate report is checked before anything trains.
  other_arch = tmp_path / "other_arch.py"
  other_arch.write_text(f"GRID = dict(out_dir='x', archs={{'cheng2020': {{}}}}, pairs=[('noise', "
                        f"'noise')], lambdas=[(0.001, 0.1)], train={{}}, "
                        f"fixed_report={vbr['fixed_report']!r})\n")
  with pytest.raises(ValueError, match="has no cheng2020; it holds balle2018"):
    compare.load_grid(str(other_arch))
  fixed = tmp_path / "fixed.py"
  fixed.write_text("GRID = dict(out_dir='x', archs={'balle2018': {}}, pairs=[('noise', "
                   "'noise')], lambdas=[0.01], train={}, fixed_report='nope.json')\n")
  with pytest.raises(ValueError, match="fixed_report is for a grid of one"):
    compare.load_grid(str(fixed))


def test_a_damaged_or_foreign_grid_record_is_one_value_error_and_other_images_do_not_count(
    tmp_path):
  path = str(tmp_path / "cells.json")
  paths = ["a.png", "b.png"]
  cell = compare.Cell({"out_dir": str(tmp_path)}, "balle2018", ("noise", "noise"), 0.01)
  record = compare.Record(path, paths)
  record.add(cell.name, {"mean": {"bpp": 0.5, "psnr": 30.0, "ms_ssim_db": 14.0}, "settings": {}})
  good = open(path, "rb").read()
  assert compare.Record(path, paths).get(cell.name) == record.get(cell.name)
  assert compare.Record(path, paths).holds(cell)
  assert not compare.Record(path, ["c.png"]).holds(cell)  # evaluated on other images
  cases = [good[:n] for n in range(0, len(good) - 2, 7)]
  cases += [b"[]", b'{"cells": []}', b'{"cells": {"x": 5}}', b'{"cells": {"x": {"mean": 1}}}',
            b'{"cells": {"x": {"mean": {"bpp": "0.5", "psnr": 30, "ms_ssim_db": 14}}}}',
            b"\xff\xfe" + good, b'{"images": "' + b"9" * 100000 + b'"}']
  rng = np.random.RandomState(0)
  for _ in range(100):
    forged = bytearray(good)
    forged[rng.randint(len(forged))] = rng.randint(256)
    cases.append(bytes(forged))
  for case in cases:
    with open(path, "wb") as f:
      f.write(case)
    try:
      loaded = compare.Record(path, paths)
    except ValueError as error:
      assert "no grid record" in str(error)
    else:  # a byte that leaves valid JSON of the right shape: read as it says
      assert isinstance(loaded.cells, dict)


class _StopsAt:
  """A codec that stops (as a kill would) when asked to encode its `stop_at`-th image."""

  def __init__(self, codec, stop_at):
    self.codec, self.stop_at, self.calls = codec, stop_at, 0
    self.label, self.settings, self.decode = codec.label, codec.settings, codec.decode

  def encode(self, image):
    self.calls += 1
    if self.calls == self.stop_at + 1:  # the first call codes a crop to warm up
      raise KeyboardInterrupt
    return self.codec.encode(image)


def test_a_stopped_evaluation_resumes_from_its_last_image_and_codes_nothing_twice(tmp_path):
  images = tmp_path / "images"
  images.mkdir()
  for path in data.image_paths(data.sample_dir())[:3]:
    (images / os.path.basename(path)).write_bytes(open(path, "rb").read())
  paths = data.image_paths(str(images))
  out = str(tmp_path / "webp.json")
  with evaluate.results_file(out) as results:
    results.add(evaluate.evaluate(evaluate.PillowCodec("webp", 30), paths))
    with pytest.raises(KeyboardInterrupt):
      evaluate.evaluate(_StopsAt(evaluate.PillowCodec("webp", 60), 3), paths,
                        checkpoint=results.save_unfinished)
  assert [p["settings"]["quality"] for p in rd_curves.load_points(out)] == [30]
  unfinished = str(tmp_path / "webp.unfinished.json")
  stopped = json.load(open(unfinished))
  assert [r["image"] for r in stopped["points"][0]["images"]] == [
      os.path.basename(p) for p in paths[:2]]
  # Marks on the measured rows show which ones a resumed evaluation codes again.
  for point in stopped["points"]:
    for row in point["images"]:
      row["encode_seconds"] = 1234.5
  open(unfinished, "w").write(json.dumps(stopped))

  def bin_evaluate(*extra):
    return subprocess.run([sys.executable, os.path.join(REPO, "bin", "evaluate"),
                           "--baseline=webp", "--qualities=30,60,90", f"--images={images}",
                           f"--out={out}", *extra], capture_output=True, text=True, timeout=300)

  good = open(unfinished).read()
  for forged in (good[:len(good) // 2], json.dumps({"points": [{"label": "WebP", "mean": {
      "bpp": 1.0, "psnr": 30.0, "ms_ssim_db": 10.0}}]}), '{"points": 7}'):
    open(unfinished, "w").write(forged)
    damaged = bin_evaluate("--resume")
    assert damaged.returncode == 1 and damaged.stderr.strip().splitlines()[-1].startswith(
        f"error: {unfinished}"), damaged.stderr
  open(unfinished, "w").write(good)
  refused = bin_evaluate()
  assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
      f"error: {unfinished} holds an evaluation that stopped before it ended: --resume "
      "continues it, or remove that file to start over."]
  assert [p["settings"]["quality"] for p in rd_curves.load_points(out)] == [30]  # untouched
  resumed = bin_evaluate("--resume")
  assert resumed.returncode == 0, resumed.stderr
  assert "quality 30: " in resumed.stdout and "(3 images measured before)" in resumed.stdout
  assert "(2 images measured before)" in resumed.stdout
  assert not os.path.exists(unfinished)
  points = rd_curves.load_points(out)
  assert [p["settings"]["quality"] for p in points] == [30, 60, 90]
  assert [r["encode_seconds"] == 1234.5 for r in points[1]["images"]] == [True, True, False]
  fresh = [evaluate.evaluate(evaluate.PillowCodec("webp", q), paths) for q in (30, 60, 90)]
  for point, alone in zip(points, fresh):
    assert [r["bytes"] for r in point["images"]] == [r["bytes"] for r in alone["images"]]
    assert point["mean"]["psnr"] == pytest.approx(alone["mean"]["psnr"], abs=1e-9)
  assert len(open(str(tmp_path / "webp.csv")).read().strip().splitlines()) == 1 + 3 * 3
  # An evaluation that resumes keeps the earlier points in the file until it adds their like,
  # and drops those it did not make once it ends.
  quality = lambda: [p["settings"]["quality"] for p in rd_curves.load_points(out)]
  with pytest.raises(KeyboardInterrupt):
    with evaluate.results_file(out, resume=True) as results:
      results.add(points[2])
      assert quality() == [90, 30, 60]
      raise KeyboardInterrupt
  assert quality() == [90, 30, 60]
  with evaluate.results_file(out, resume=True) as results:
    results.add(points[2])
  assert quality() == [90]


def test_resuming_keeps_only_rows_of_the_same_codec_images_and_estimate(tmp_path):
  paths = data.image_paths(data.sample_dir())[:2]
  out = str(tmp_path / "r.json")
  model = trained("balle2018", "universal", "dsq")
  with evaluate.results_file(out) as results:
    results.add(evaluate.evaluate(evaluate.ModelCodec(model), paths, estimate=True))
  with evaluate.results_file(out, resume=True) as results:
    assert len(results.measured(evaluate.ModelCodec(model), paths, estimate=True)) == 2
    assert len(results.measured(evaluate.ModelCodec(model), paths[:1] + paths, True)) == 0
    assert len(results.measured(evaluate.ModelCodec(model), paths, estimate=False)) == 0
    assert len(results.measured(evaluate.ModelCodec(model, coder="tf"), paths, True)) == 0
    assert len(results.measured(evaluate.ModelCodec(model, label="x"), paths, True)) == 0
    assert len(results.measured(evaluate.ModelCodec(model, refine=1), paths, True)) == 0
    other = trained("balle2018", "universal", "dsq", steps=3)  # other weights
    assert len(results.measured(evaluate.ModelCodec(other), paths, True)) == 0
    assert len(results.measured(evaluate.ModelCodec(model), paths + paths[:1], True)) == 2
    first = os.path.basename(paths[0])
    reconstructions = tmp_path / "decoded"
    reconstructions.mkdir()
    (reconstructions / first).write_bytes(b"")
    kept = results.measured(evaluate.ModelCodec(model), paths, True, str(reconstructions))
    assert [r["image"] for r in kept] == [first]
    with pytest.raises(RuntimeError, match=f"being written by another evaluation "
                                           f"\\(pid {os.getpid()}\\)"):
      with evaluate.results_file(out):
        pass
