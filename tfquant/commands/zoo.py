"""List the model zoo: each model's architecture, λ, training and Kodak figures.

Hours are wall time on the 2-core machine that trained it.

  bin/zoo              # one line per model
  bin/zoo --json       # the same as JSON, one object per model
  bin/zoo --history   # where each family has been, chunk by chunk, against WebP
  bin/zoo --history --reference=BPG   # ... against another reference curve

Every command loads a model as --model=zoo:NAME; --model=zoo: names them all and
--model='zoo:balle2017-*' one family (evaluate, codec compress --target_bpp).
"""

import json

from absl import app, flags

from tfquant import commands

flags.DEFINE_boolean("json", False, "Print JSON instead of a table.")
flags.DEFINE_boolean("history", False, "Each family's Kodak BD figures (a variable-rate "
                     "entry's over its every rate) against --reference after its first "
                     "training and after each chunk of `make-zoo --continue` that replaced "
                     "some of its entries.")
flags.DEFINE_string("reference", "WebP", "--history: the reference curve (a word of its "
                    "label: WebP, JPEG, BPG, cheng2020-anchor, ...).")
FLAGS = flags.FLAGS

HEADER = ("name", "arch", "N/M", "λ", "steps", "hours", "trained in", "MB", "Kodak bpp",
          "PSNR dB", "MS-SSIM dB")


PROGRESS_HEADER = ("family", "after", "steps", "CPU-hours", "BD-rate", "BD-PSNR",
                   "BD-rate MS-SSIM")


def columns(cells):
  """Rows of strings as left-aligned columns."""
  widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
  return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def table(rows):
  return columns([HEADER] + [
      (r["name"], r["arch"], r["filters"],
       f"{r['lmbda']:g}" + (f"–{r['lmbda_max']:g}" if r["lmbda_max"] else ""), str(r["steps"]),
       f"{r['hours']:.2f}", r["precision"], f"{r['megabytes']:.1f}", f"{r['bpp']:.4f}",
       f"{r['psnr']:.2f}", f"{r['ms_ssim_db']:.2f}") for r in rows])


def progress_table(rows):
  from tfquant import rd_curves
  return "\n".join([
      f"Kodak, against {rows[0]['reference']}:",
      columns([PROGRESS_HEADER] + [
          (r["family"], r["date"] or "first run", str(r["steps"]), f"{r['cpu_hours']:.1f}",
           f"{r['bd_rate']:+.1f}% {rd_curves.unreliable_mark(r['overlap'])}".rstrip(),
           f"{r['bd_psnr']:+.2f} dB", f"{r['bd_rate_ms_ssim']:+.1f}%") for r in rows]),
      "† the curves overlap too little for a reliable BD-rate (docs/RESULTS.md); steps and "
      "CPU-hours are summed over each family's entries."])


def main(argv):
  del argv
  from tfquant import zoo
  if FLAGS.history:
    try:
      rows = zoo.progress_rows(FLAGS.reference)
    except ValueError as error:
      raise app.UsageError(str(error)) from None
    print(json.dumps(rows, indent=1) if FLAGS.json else progress_table(rows))
    return
  rows = [zoo.describe(name) for name in zoo.names()]
  print(json.dumps(rows, indent=1) if FLAGS.json else table(rows))


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
