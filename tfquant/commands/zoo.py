"""List the model zoo: each model's architecture, λ, training and Kodak figures.

Hours are wall time on the 2-core machine that trained it.

  bin/zoo              # one line per model
  bin/zoo --json       # the same as JSON, one object per model

Every command loads a model as --model=zoo:NAME; --model=zoo: names them all and
--model='zoo:balle2017-*' one family (evaluate, codec compress --target_bpp).
"""

import json

from absl import flags

from tfquant import commands

flags.DEFINE_boolean("json", False, "Print JSON instead of a table.")
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


def main(argv):
  del argv
  from tfquant import zoo
  rows = [zoo.describe(name) for name in zoo.names()]
  print(json.dumps(rows, indent=1) if FLAGS.json else table(rows))


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
