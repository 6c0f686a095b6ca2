"""Train (or resume) the model zoo and write its entries into tfquant/zoo/.

  bin/make-zoo --config=zoo_balle2018 --work_dir=../zoo-runs [--only=0.01,...]

The config defines CONFIG (the run from scratch) and ZOO: its "name" (the entry name
pattern) and "finetune" ({λ: settings}, runs started from CONFIG's final weights). Each run
lives in WORK_DIR/<name> and resumes after any interruption; a finished run is evaluated on
Kodak (real files) and its model, configuration, steps, training time and figures are written
to tfquant/zoo/<name>.
"""


from absl import app, flags

from tfquant import commands

flags.DEFINE_string("config", None, "A zoo config by name (zoo_balle2018) or file.")
flags.DEFINE_string("work_dir", None, "Where the training runs live (outside the repo).")
flags.DEFINE_list("only", None, "Only these λ (default: all).")
flags.DEFINE_boolean("train", True, "Train what is missing (else only write entries of "
                     "finished runs).")
flags.mark_flags_as_required(["config", "work_dir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  try:
    only = [float(lmbda) for lmbda in FLAGS.only or ()]
  except ValueError:
    raise app.UsageError(f"--only takes λ values separated by commas, got "
                         f"{','.join(FLAGS.only)!r}") from None
  from tfquant import zoo_maker
  zoo_maker.make(FLAGS.config, FLAGS.work_dir, only, FLAGS.train)


def run():
  commands.run(main, errors=(ValueError, OSError, FloatingPointError))


if __name__ == "__main__":
  run()
