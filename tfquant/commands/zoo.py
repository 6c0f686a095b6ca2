"""List the model zoo: each model's architecture, λ, training and Kodak figures.

Hours are wall time on the 2-core machine that trained it.

  bin/zoo              # one line per model
  bin/zoo --json       # the same as JSON, one object per model
  bin/zoo --progress   # where each family has been, chunk by chunk, against WebP
  bin/zoo --progress --reference=BPG   # ... against another reference curve

Every command loads a model as --model=zoo:NAME; --model=zoo: names them all and
--model='zoo:balle2017-*' one family (evaluate, codec compress --target_bpp).
"""

import json

from absl import app, flags

from tfquant import commands

flags.DEFINE_boolean("json", False, "Print JSON instead of a table.")
flags.DEFINE_boolean("progress", False, "Each fixed-rate family's Kodak BD figures against "
                     "--reference after its first training and after each chunk of "
                     "`make-zoo --continue` that replaced some of its entries.")
flags.DEFINE_string("reference", "WebP", "--progress: the reference curve (a word of its "
                    "label: WebP, JPEG, BPG, cheng2020-anchor, ...).")
FLAGS = flags.FLAGS

HEADER = ("name", "arch", "N/M", "λ", "steps", "hours", "trained in", "MB", "Kodak bpp",
          "PSNR dB", "MS-SSIM dB")


def table(rows):
  cells = [HEADER] + [
      (r["name"], r["arch"], r["filters"],
       f"{r['lmbda']:g}" + (f"–{r['lmbda_max']:g}" if r["lmbda_max"] else ""), str(r["steps"]),
       f"{r['hours']:.2f}", r["precision"], f"{r['megabytes']:.1f}", f"{r['bpp']:.4f}",
       f"{r['psnr']:.2f}", f"{r['ms_ssim_db']:.2f}") for r in rows]
  widths = [max(len(row[i]) for row in cells) for i in range(len(HEADER))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def progress_rows(reference):
  """[{"family", "date", "steps", "cpu_hours", BD figures}] of `zoo.progress` for every
  fixed-rate family against the reference curve whose label has the word `reference`."""
  from tfquant import evaluate, zoo
  labels = [label for label in zoo.references() if reference.lower() in label.lower().split()]
  if len(labels) != 1:
    raise app.UsageError(f"--reference={reference!r} names {len(labels)} of the reference "
                              f"curves: {'; '.join(zoo.references())}")
  anchor = zoo.references()[labels[0]]
  rows = []
  for family, names in zoo.families().items():
    if any(zoo.variable_rate(name) for name in names):
      continue
    for stage in zoo.progress(family):
      curve = stage.pop("curve")
      rows.append(dict(family=family, reference=labels[0], **stage,
                       bd_rate=evaluate.bd_rate(anchor, curve),
                       overlap=evaluate.bd_overlap(anchor, curve),
                       bd_psnr=evaluate.bd_psnr(anchor, curve),
                       bd_rate_ms_ssim=evaluate.bd_rate(anchor, curve, "ms_ssim_db")))
  return rows


def progress_table(rows):
  from tfquant import evaluate
  header = ("family", "after", "steps", "CPU-hours", "BD-rate", "BD-PSNR", "BD-rate MS-SSIM")
  cells = [header] + [
      (r["family"], r["date"] or "first run", str(r["steps"]), f"{r['cpu_hours']:.1f}",
       f"{r['bd_rate']:+.1f}% {evaluate.unreliable_mark(r['overlap'])}".rstrip(),
       f"{r['bd_psnr']:+.2f} dB", f"{r['bd_rate_ms_ssim']:+.1f}%") for r in rows]
  widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
  lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
  return "\n".join([f"Kodak, against {rows[0]['reference']}:"] + lines + ["† the curves overlap too little for a reliable BD-rate "
                            "(docs/RESULTS.md); steps and CPU-hours are summed over each "
                            "family's entries"])


def main(argv):
  del argv
  from tfquant import zoo
  if FLAGS.progress:
    rows = progress_rows(FLAGS.reference)
    print(json.dumps(rows, indent=1) if FLAGS.json else progress_table(rows))
    return
  rows = [zoo.describe(name) for name in zoo.names()]
  print(json.dumps(rows, indent=1) if FLAGS.json else table(rows))


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
