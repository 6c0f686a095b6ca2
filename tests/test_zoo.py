"""The model zoo: its cards, its families and how make-zoo writes and continues them."""

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from tfquant import data, models, rd_curves, train, zoo, zoo_maker
from tfquant.train import strategy
from tests.helpers import TINY


def test_unknown_zoo_name_is_clear():
  with pytest.raises(FileNotFoundError, match="No zoo model 'nope'"):
    models.load("zoo:nope")


def test_a_family_gains_only_with_candidates_that_lower_its_bd_rate():
  old = {"a": [(0.1, 25.0, 9.0)], "b": [(0.2, 27.0, 11.0)], "c": [(0.4, 29.0, 13.0)]}
  better_b, worse_c = [(0.19, 27.4, 11.2)], [(0.45, 28.8, 12.8)]
  taken, gain = zoo_maker.choose(old, {"b": better_b, "c": worse_c})
  assert taken == ["b"] and gain < 0
  assert zoo_maker.choose(old, {"c": worse_c}) == ([], 0.0)
  # A variable-rate entry is a family of one: its whole curve against its whole curve.
  curve = [(0.1, 25.0, 9.0), (0.2, 27.0, 11.0), (0.4, 29.0, 13.0)]
  assert zoo_maker.choose({"vr": curve}, {"vr": [(b * 0.95, p, m) for b, p, m in curve]}) == (
      ["vr"], pytest.approx(-5.0))


def test_a_family_with_a_saturating_top_takes_every_candidate_above_its_curve():
  # Cheng20's chunk 7 (Kodak): each candidate beats its entry, yet under PCHIP the top one
  # alone raises the BD-rate (+0.7%) and the third makes the old top a dominated point.
  old = {"a": [(0.2087, 28.015, 11.7)], "b": [(0.3358, 29.278, 13.8)],
         "c": [(0.4280, 29.936, 15.0)], "d": [(0.5183, 29.958, 15.5)]}
  new = {"a": [(0.2044, 28.017, 11.7)], "b": [(0.3336, 29.326, 13.9)],
         "c": [(0.4260, 29.985, 15.1)], "d": [(0.5185, 30.132, 15.7)]}
  curve = zoo_maker.family_curve
  assert rd_curves.bd_rate(curve(old), curve(dict(old, d=new["d"]))) > 0.5
  taken, gain = zoo_maker.choose(old, new)
  assert taken == ["a", "b", "c", "d"] and gain == pytest.approx(-2.39, abs=0.01)
  # The top alone: no BD figure reaches above the old top, so it is taken as a tie...
  assert zoo_maker.choose(dict(new, d=old["d"]), {"d": new["d"]}) == (["d"], 0.0)
  # ...but not a tie below the curve.
  assert zoo_maker.choose(old, {"d": [(0.5185, 29.95, 15.5)]}) == ([], 0.0)


def test_a_family_continues_from_its_shipped_weights(tmp_path, monkeypatch):
  """make-zoo --continue: candidates trained from the shipped weights, judged on (here) the
  sample images, written over their entries with the chunk in their cards' history; an entry
  trained in bfloat16 continues in float32 where bfloat16 would be emulated (~10× slower)."""
  monkeypatch.setattr(zoo, "DIRECTORY", str(tmp_path / "zoo"))
  monkeypatch.setattr(strategy, "native_bfloat16", lambda: False)
  monkeypatch.setattr(data, "shared_dir", lambda name: data.sample_dir())
  images = data.image_paths(data.sample_dir())[:2]
  monkeypatch.setattr(data, "image_paths", lambda pattern: images)
  for lmbda, precision in ((0.005, "float32"), (0.05, "mixed_bfloat16")):
    config = train.resolve_config(overrides=dict(
        arch="balle2018", lmbda=lmbda, batch_size=2, patch_size=64, steps=6, lr=1e-3,
        precision=precision, train_glob=data.sample_dir(),
        train_dir=str(tmp_path / f"run-{lmbda}"), **TINY))
    train.train(config, progress=False)
    zoo_maker.write_entry(f"tiny-mse-{lmbda}", config, 6, 2.0, images)
  shipped = {name: zoo.card(name) for name in zoo.names()}
  work = str(tmp_path / "work")
  chunk = dict(steps=3, lr=1e-4, lr_decay_fraction=0.5)

  with pytest.raises(ValueError, match="no entry at λ 0.5; its λ: 0.005, 0.05"):
    zoo_maker.continue_family("tiny", work, chunk, only=[0.5])
  # --only: those entries trained, the family judged whole; the rest trains when asked.
  report = zoo_maker.continue_family("tiny", work, chunk, min_gain=float("inf"), only=[0.05])
  assert sorted(os.listdir(work)) == ["report.json", "tiny-mse-0.05"]
  assert report["entries"]["tiny-mse-0.005"] == {
      "old": zoo.kodak_points(shipped["tiny-mse-0.005"]), "candidate": None}
  report = zoo_maker.continue_family("tiny", work, chunk, min_gain=float("inf"))
  assert report["replaced"] == [] and set(report["entries"]) == set(shipped)
  assert {name: zoo.card(name) for name in zoo.names()} == shipped
  for name, precisions in (("tiny-mse-0.005", ("float32", "float32")),
                           ("tiny-mse-0.05", ("auto", "float32"))):
    with open(os.path.join(work, name, "run", train.CONFIG_FILE)) as f:
      run = json.load(f)
    assert (run["precision"], run["resolved_precision"]) == precisions

  # The same command again resumes (nothing retrains); a gain replaces the entries.
  monkeypatch.setattr(zoo_maker, "choose", lambda old, candidates: (sorted(candidates), -5.0))
  timed_train = zoo_maker._timed_train  # pylint: disable=protected-access
  monkeypatch.setattr(zoo_maker, "_timed_train", None)
  report = zoo_maker.continue_family("tiny", work, chunk)
  assert report["replaced"] == sorted(shipped) and zoo.names() == sorted(shipped)
  for name, old in shipped.items():
    card = zoo.card(name)
    assert [chunk["steps"] for chunk in card["history"]] == [6, 3]
    assert (card["total_steps"], card["steps"], card["config"]["lr"]) == (9, 3, 1e-4)
    assert card["config"]["precision"] == "float32"  # what auto resolved to, not "auto"
    assert card["weights"] == {"tiny-mse-0.005": "float16 convolutions (trained in float32)",
                               "tiny-mse-0.05": "float16 convolutions (trained in "
                                                "mixed_bfloat16, then float32)"}[name]
    assert report["entries"][name]["candidate"] == [zoo.kodak_point(card["kodak"])]
    model = models.load(f"zoo:{name}")
    candidate = models.load(os.path.join(work, name, "candidate"))
    for ours, theirs in zip(model.weights, candidate.weights):
      np.testing.assert_array_equal(ours, theirs)
  stages = zoo.progress("tiny-mse")  # where the family has been: before the chunk and after it
  assert [stage["steps"] for stage in stages] == [12, 18]
  assert stages[0]["curve"] == sorted(zoo.kodak_point(card["kodak"]) for card in shipped.values())
  assert stages[1]["curve"] == zoo.kodak_curve(zoo.names())
  with pytest.raises(ValueError, match="continues another version"):
    zoo_maker.continue_family("tiny", work, chunk)
  # A replacement killed between its two renames leaves the old entry hidden: put back.
  name = zoo.names()[0]
  os.replace(zoo.path(name), os.path.join(zoo.DIRECTORY, f".{name}.old"))
  zoo_maker._restore_retired_entries()  # pylint: disable=protected-access
  assert zoo.names() == sorted(shipped)
  # One recipe on one day twice more, for one entry and then for both (Cheng20's chunks 6–8;
  # the first chunk's candidates again, as if trained): its date and settings cannot tell the
  # chunks apart, the time the family was judged can.
  for number, only in ((2, [0.005]), (3, None)):
    for name in shipped:
      if only is None or zoo.card(name)["config"]["lmbda"] in only:
        for finished in ("candidate", "kodak.json"):
          copy = shutil.copytree if finished == "candidate" else shutil.copy
          copy(os.path.join(work, name, finished),
               os.path.join(tmp_path, f"work{number}", name, finished))
    zoo_maker.continue_family("tiny", str(tmp_path / f"work{number}"), chunk, only=only)
  assert [stage["steps"] for stage in zoo.progress("tiny-mse")] == [12, 18, 21, 27]

  # --after: a chunk the family kept unshipped (work4, the first candidates again, as if
  # trained) is not lost: the next chunk starts from its candidates, and the cards that take
  # them record both chunks. That chunk also widens the entries (models.widen).
  after, work = str(tmp_path / "work4"), str(tmp_path / "work5")
  with pytest.raises(FileNotFoundError, match="no finished --continue run"):
    zoo_maker.continue_family("tiny", work, chunk, after=after)
  forged = tmp_path / "forged"
  forged.mkdir()
  (forged / "report.json").write_text('{"family": "tiny"')
  with pytest.raises(ValueError, match="report.json is not JSON"):
    zoo_maker.continue_family("tiny", work, chunk, after=str(forged))
  (forged / "report.json").write_text('{"family": "tiny"}')
  with pytest.raises(ValueError, match="lacks judged, replaced"):
    zoo_maker.continue_family("tiny", work, chunk, after=str(forged))
  with pytest.raises(ValueError, match="continued another version of tiny-mse-0.005"):
    zoo_maker.continue_family("tiny", work, chunk, after=str(tmp_path / "work3"))
  for name in shipped:
    shutil.copytree(os.path.join(tmp_path, "work", name, "candidate"),
                    os.path.join(after, name, "candidate"))
    shutil.copy(os.path.join(tmp_path, "work", name, "kodak.json"), os.path.join(after, name))
  kept = zoo_maker.continue_family("tiny", after, chunk, min_gain=float("inf"))
  assert kept["replaced"] == []
  monkeypatch.setattr(zoo_maker, "_timed_train", timed_train)
  report = zoo_maker.continue_family("tiny", work, dict(chunk, num_filters=12), after=after)
  assert report["replaced"] == sorted(shipped) and report["after"] == after
  for name in shipped:
    start = models.load(os.path.join(work, name, "start"))
    candidate = models.load(os.path.join(after, name, "candidate"))
    for ours, theirs in zip(start.weights, candidate.weights):
      np.testing.assert_array_equal(ours, theirs)
    wide = models.load(f"zoo:{name}")
    assert (wide.options["num_filters"], zoo.card(name)["config"]["num_filters"]) == (12, 12)
    history = zoo.card(name)["history"]
    assert [(part["steps"], part["judged"]) for part in history[-2:]] == [
        (3, kept["judged"]), (3, report["judged"])]
    assert [zoo.kodak_point(history[-2]["kodak"])] == kept["entries"][name]["candidate"]
  assert [stage["steps"] for stage in zoo.progress("tiny-mse")] == [12, 18, 21, 27, 33, 39]


def test_families_and_the_reference_curves_they_are_judged_by():
  families = zoo.families()
  assert sorted(n for names in families.values() for n in names) == zoo.names()
  assert all(name.startswith(family + "-") for family, names in families.items()
             for name in names)
  curve = zoo.kodak_curve(families["cheng2020-mse"])
  assert len(curve) == 4 and [p[0] for p in curve] == sorted(p[0] for p in curve)
  stages = zoo.progress("cheng2020-mse")  # first trained, then continued chunk by chunk
  assert stages[0]["date"] is None and stages[-1]["curve"] == curve
  assert all(a["steps"] < b["steps"] and a["cpu_hours"] < b["cpu_hours"] and
             (a["date"] or "") <= b["date"] for a, b in zip(stages, stages[1:]))
  balle = [zoo.lineage(zoo.card(name)) for name in families["balle2018-mse"]]
  # Its chunks 4 and 5 ran one recipe on one day: still one stage each.
  assert len(zoo.progress("balle2018-mse")) == max(len(history) for history in balle) == 6
  references = zoo.references()
  (webp,) = [label for label in references if label.startswith("WebP")]
  rows = [row for row in zoo.progress_rows("webp") if row["family"] == "cheng2020-mse"]
  assert [row["steps"] for row in rows] == [stage["steps"] for stage in stages]
  assert rows[-1]["bd_rate"] == rd_curves.bd_rate(references[webp], curve)
  assert {"JPEG", "WebP", "BPG", "bmshj2018-hyperprior", "cheng2020-anchor"} <= {
      word for label in references for word in label.split()}
  for label, reference in references.items():
    assert len(reference) >= 6, label
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in zip(reference, reference[1:])), label


def test_a_variable_rate_entry_carries_its_curve_and_resumes_its_evaluation(tmp_path,
                                                                             monkeypatch):
  monkeypatch.setattr(zoo, "DIRECTORY", str(tmp_path / "zoo"))
  images = data.image_paths(data.sample_dir())[:1]
  start = train.resolve_config(overrides=dict(
      arch="balle2018", lmbda=0.01, batch_size=2, patch_size=64, steps=2,
      train_glob=data.sample_dir(), train_dir=str(tmp_path / "start"), **TINY))
  train.train(start, progress=False)
  zoo_maker.write_entry("tiny-mse-0.01", start, 2, 1.0, images)
  config = dataclasses.replace(start, lmbda=0.002, lmbda_max=0.05, steps=3,
                               init_from="zoo:tiny-mse-0.01", train_dir=str(tmp_path / "run"))
  train.train(config, progress=False)
  card = zoo_maker.write_entry("tiny-vr-mse", config, 3, 2.0, images, rates=3)
  assert (card["started_from"], card["total_steps"], card["total_training_seconds"]) == (
      "zoo:tiny-mse-0.01 (its weights at 2 steps)", 5, 3)
  model = models.load("zoo:tiny-vr-mse")
  assert zoo.variable_rate("tiny-vr-mse") and zoo.card("tiny-vr-mse") == card
  curve = card["kodak_curve"]
  assert [point["lmbda"] for point in curve] == pytest.approx(
      [float(model.quantization_step.lmbda(model.rate_code(lmbda)))
       for lmbda in (0.002, 0.01, 0.05)], rel=1e-5)
  assert card["kodak"] == curve[1]  # the geometric middle is one of an odd count of rates
  assert curve[0]["bpp"] < curve[2]["bpp"]
  # Measured points are kept in the run: writing the entry again measures nothing...
  figures, measured = zoo_maker._figures, []  # pylint: disable=protected-access
  monkeypatch.setattr(zoo_maker, "_figures", lambda codec, images: measured.append(
      codec.lmbda) or dict(curve[0], lmbda=None))
  assert zoo_maker.write_entry("tiny-vr-mse", config, 3, 2.0, images, rates=3) == card
  assert measured == []
  # ...unless the run has been trained further since.
  zoo_maker.write_entry("tiny-vr-mse", dataclasses.replace(config, steps=4), 4, 2.0, images,
                        rates=3)
  assert len(measured) == 3

  # make-zoo --continue=tiny-vr-mse: one more chunk for the one model, judged by its curve
  # measured again at as many rates, and written over the entry with the chunk's curve.
  monkeypatch.setattr(zoo_maker, "_figures", figures)
  card = zoo_maker.write_entry("tiny-vr-mse", config, 3, 2.0, images, rates=3)
  monkeypatch.setattr(data, "shared_dir", lambda name: data.sample_dir())
  monkeypatch.setattr(data, "image_paths", lambda pattern: images)
  monkeypatch.setattr(zoo_maker, "choose", lambda old, candidates: (sorted(candidates), -5.0))
  work = str(tmp_path / "work")
  report = zoo_maker.continue_family("tiny-vr-mse", work, dict(steps=2, lr=1e-4))
  assert report["replaced"] == ["tiny-vr-mse"]
  assert report["entries"]["tiny-vr-mse"]["old"] == [zoo.kodak_point(point)
                                                    for point in card["kodak_curve"]]
  continued = zoo.card("tiny-vr-mse")
  assert len(continued["kodak_curve"]) == 3 and continued["kodak_curve"] != card["kodak_curve"]
  assert report["entries"]["tiny-vr-mse"]["candidate"] == [
      zoo.kodak_point(point) for point in continued["kodak_curve"]]
  assert [chunk["kodak_curve"] for chunk in continued["history"]] == [
      card["kodak_curve"], continued["kodak_curve"]]
  assert (continued["total_steps"], continued["config"]["lmbda_max"]) == (7, 0.05)
  assert [(stage["steps"], stage["curve"]) for stage in zoo.progress("tiny-vr")] == [
      (5, zoo.kodak_points(card)), (7, zoo.kodak_points(continued))]  # the model's every rate
