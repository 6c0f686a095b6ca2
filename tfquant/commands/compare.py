"""Run the paper's comparison grid: train (or reuse) every cell, evaluate, report.

  bin/compare --config=grid_mini [--jobs=2]
  bin/compare --config=grid_paper --print_jobs     # one training command per cell
  bin/compare --config=grid_paper --notrain        # evaluate and report only
"""

import sys

from absl import flags

from tfquant import commands

flags.DEFINE_string("config", None, "A shipped grid by name (grid_smoke, grid_mini, "
                    "grid_paper, ...: tfquant/configs/grid_*.py) or a grid config file.")
flags.DEFINE_integer("jobs", 1, "Training processes at once.", lower_bound=1)
flags.DEFINE_boolean("train", True, "Train unfinished cells (else only evaluate finished).")
flags.DEFINE_boolean("print_jobs", False, "Only print one training command (python -m tfquant train ...) per cell.")
flags.DEFINE_string("out", None, "Where the runs and the report go (default: the grid's "
                    "out_dir).")
flags.DEFINE_alias("out_dir", "out")
flags.mark_flag_as_required("config")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfquant import compare
  grid = compare.load_grid(FLAGS.config)
  if FLAGS.out:
    grid["out_dir"] = FLAGS.out
  if FLAGS.print_jobs:
    compare.print_jobs(grid)
    return
  _, failures = compare.run(grid, jobs=FLAGS.jobs, train=FLAGS.train)
  if failures:
    sys.exit(f"error: {len(failures)} training run(s) failed; see their train.log.")


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
