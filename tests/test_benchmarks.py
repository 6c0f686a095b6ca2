"""`make bench`'s report: every benchmark module imports and renders its stored result."""

import os

from benchmarks import common, run


def test_every_stored_result_renders(tmp_path, monkeypatch):
  monkeypatch.setattr(run, "DOC", str(tmp_path / "BENCHMARKS.md"))
  run.render()
  doc = open(run.DOC).read()
  stored = common.read_results()
  assert set(stored) >= set(run.BENCHMARKS)
  for name in stored:
    assert f"\n## {name}\n" in doc
  assert doc.count("\n| ") > 4 * len(stored)  # each section's table has rows
  assert os.path.getsize(run.DOC) > 2000
