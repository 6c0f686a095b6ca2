"""`make bench`'s report: every benchmark module imports and renders its stored result, and
the figures the docs quote are the stored ones."""

import os
import re

from benchmarks import common, run

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Every figure the README quotes from a benchmark: the sentence as the README words it, with
# {name:format} where a figure goes, and the figures' places in benchmarks/results/<file>.json.
README_FIGURES = [
    ("`tf` files are {size:.3f}× the size of `tfc`'s and take {encode:.2f}× the time to "
     "encode, {decode:.2f}× to decode",
     dict(size="bitstream/models/balle2018/ratios/size",
          encode="bitstream/models/balle2018/ratios/encode",
          decode="bitstream/models/balle2018/ratios/decode")),
    ("a Ballé18 (N=128, M=192) step at batch 8 × 256² takes {f32:.1f} s in float32 and "
     "{bf16:.1f} s in bfloat16",
     dict(f32="training/architectures/balle2018/precisions/float32/seconds_per_step",
          bf16="training/architectures/balle2018/precisions/mixed_bfloat16/seconds_per_step")),
    ("Ballé18 N=128/M=192 **{b18:.2f}×** faster ({tfc:.2f} s → {bf16:.2f} s), Minnen18 "
     "N=192/M=320 {m18:.2f}×, Cheng20 N=128 {c20:.2f}×; float32 itself is {f32:.2f}× faster",
     dict(b18="training/architectures/balle2018/bfloat16_vs_tfc_ops",
          tfc="training/architectures/balle2018/tfc_ops_seconds_per_step",
          bf16="training/architectures/balle2018/precisions/mixed_bfloat16/seconds_per_step",
          m18="training/architectures/minnen2018/bfloat16_vs_tfc_ops",
          c20="training/architectures/cheng2020/bfloat16_vs_tfc_ops",
          f32="training/architectures/balle2018/float32_vs_tfc_ops")),
    ("Cheng20's search takes {bf16:.1f} s per Kodak image in bfloat16 against {f32:.1f} s in "
     "float32",
     dict(bf16="refine/entries/cheng2020-mse-0.003/seconds_per_image/mixed_bfloat16",
          f32="refine/entries/cheng2020-mse-0.003/seconds_per_image/float32")),
    ("Ballé18 N=128/M=192 at {encode:.2f}× / {decode:.2f}× CompressAI's time",
     dict(encode="peers/ratios/hyperprior vs compressai/encode",
          decode="peers/ratios/hyperprior vs compressai/decode")),
]


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


def test_docs_show_the_stored_results():
  """docs/BENCHMARKS.md is what the stored results render to, and the README quotes them."""
  with open(run.DOC) as f:
    assert f.read() == run.render_text(), (
        "docs/BENCHMARKS.md differs from what benchmarks/results/*.json render to: "
        "python -c 'from benchmarks import run; run.render()'")
  stored = common.read_results()
  with open(os.path.join(REPO, "README.md")) as f:
    readme = re.sub(r"\s+", " ", f.read())

  def value(place):
    node = stored
    for key in place.split("/"):
      node = node[key]
    return node

  for sentence, places in README_FIGURES:
    expected = sentence.format(**{name: value(p) for name, p in places.items()})
    assert expected in readme, f"README should say: {expected}"
