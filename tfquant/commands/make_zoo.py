"""Train (or resume) the model zoo and write its entries into tfquant/zoo/.

  bin/make-zoo --config=zoo_balle2018 --work_dir=../zoo-runs [--only=0.01,...]
  bin/make-zoo --continue=cheng2020 --work_dir=../zoo-chunk [--only=0.03 --steps=1200 ...]

The config defines CONFIG (the run from scratch) and ZOO: its "name" (the entry name
pattern) and "finetune" ({λ: settings}, runs started from CONFIG's final weights). Each run
lives in WORK_DIR/<name> and resumes after any interruption; a finished run is evaluated on
Kodak (real files) and its model, configuration, steps, training time and figures are written
to tfquant/zoo/<name>.

--continue=FAMILY trains every entry of a shipped family (cheng2020, balle2018, ...; --only:
those at these λ, the family judged whole) one chunk further from its shipped weights (a
fresh optimizer at --lr, dropped ×0.1 from --lr_decay_fraction; the entry's other settings
unless --patch_size, --batch_size, --random_downscale or --precision are given; with more
--num_filters or --latent_filters, a Ballé17/18 entry widened so that it codes as it did
before the chunk trains the new channels), evaluates
each on Kodak with real files and replaces the entries whose candidates lower the family's
BD-rate (or lie above its curve where no BD figure reaches: beyond its ends), if together
they lower it by at least --min_gain percent. The judge's BD-rate is read on what the family
reaches (its Pareto front), log rate linear in PSNR between points, so that a candidate that
beats its entry never counts against it.
--after=DIR starts each entry from its candidate in DIR instead, the work_dir of an earlier
--continue run of the family that shipped none (a chunk under --min_gain is not lost: the
next one adds to it, and a card that takes them records both).
--continue=NAME of a variable-rate entry (balle2018-vr-span-mse) does the same for that one
model, judged by its whole curve. A killed run resumes with the
same command; each entry's card keeps the history of its chunks.
"""


from absl import app, flags

from tfquant import commands

flags.DEFINE_string("config", None, "A zoo config by name (zoo_balle2018) or file.")
flags.DEFINE_string("continue", None, "A zoo family to train one chunk further "
                    "(cheng2020, balle2018, ...) or a variable-rate entry's name, instead of "
                    "--config.")
flags.DEFINE_integer("steps", 1200, "--continue: steps per entry.")
flags.DEFINE_float("lr", 1e-4, "--continue: the learning rate (Adam, fresh state).")
flags.DEFINE_float("lr_decay_fraction", 0.7, "--continue: lr × 0.1 from this fraction on.")
flags.DEFINE_integer("patch_size", None, "--continue: crop side (default: the entry's).")
flags.DEFINE_integer("batch_size", None, "--continue: batch (default: the entry's).")
flags.DEFINE_float("random_downscale", None, "--continue: crops shrunk by a random factor "
                   "in [this, 1] (default: the entry's).")
flags.DEFINE_integer("num_filters", None, "--continue: widen the entries' transforms to this "
                     "many filters (Ballé17/18; default: the entry's).")
flags.DEFINE_integer("latent_filters", None, "--continue: widen the entries' latent y to this "
                     "many channels (Ballé17/18; default: the entry's).")
flags.DEFINE_string("precision", None, "--continue: float32, mixed_bfloat16 or auto (default: "
                    "the entry's; auto for an entry trained in bfloat16: float32 where "
                    "bfloat16 would be emulated).")
flags.DEFINE_string("after", None, "--continue: start from the candidates in this work_dir "
                    "of an earlier --continue run of the family that shipped none of them.")
flags.DEFINE_float("min_gain", 2.0, "--continue: the family's BD-rate gain (%) that "
                   "replaces entries.")
flags.DEFINE_string("work_dir", None, "Where the training runs live (outside the repo).")
flags.DEFINE_list("only", None, "Only these λ (default: all).")
flags.DEFINE_boolean("train", True, "Train what is missing (else only write entries of "
                     "finished runs).")
flags.mark_flags_as_required(["work_dir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  family = FLAGS["continue"].value
  if (FLAGS.config is None) == (family is None):
    raise app.UsageError("give exactly one of --config and --continue")
  if FLAGS.after and not family:
    raise app.UsageError("--after goes with --continue")
  try:
    only = [float(lmbda) for lmbda in FLAGS.only or ()]
  except ValueError:
    raise app.UsageError(f"--only takes λ values separated by commas, got "
                         f"{','.join(FLAGS.only)!r}") from None
  from tfquant import zoo_maker
  if family:
    chunk = dict(steps=FLAGS.steps, lr=FLAGS.lr, lr_decay_fraction=FLAGS.lr_decay_fraction)
    settings = ("patch_size", "batch_size", "random_downscale", "precision", "num_filters",
                "latent_filters")
    chunk.update({key: FLAGS[key].value for key in settings if FLAGS[key].value is not None})
    zoo_maker.continue_family(family, FLAGS.work_dir, chunk, FLAGS.train, FLAGS.min_gain,
                              only, FLAGS.after)
    return
  zoo_maker.make(FLAGS.config, FLAGS.work_dir, only, FLAGS.train)


def run():
  commands.run(main, errors=(ValueError, OSError, FloatingPointError))


if __name__ == "__main__":
  run()
