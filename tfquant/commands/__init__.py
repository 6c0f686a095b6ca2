"""The command-line tools: `tfquant COMMAND [flags]` (installed), `python -m tfquant COMMAND`,
or `bin/COMMAND` in a checkout. One module per command, each with its absl flags and `run()`.

Importing this package first quiets TensorFlow's start-up and imports it before absl's
`app.run`: TensorFlow imported for the first time inside `app.run`'s main (from a shell, i.e.
without the TF2_BEHAVIOR=1 that importing TensorFlow leaves for child processes) sees
`executing_eagerly_outside_functions()` as False in every tf.function, so `Tensor.__eq__`
there is object identity: `tfc.GDN` then takes its `inputs ** alpha` branch instead of
|inputs|, and training, compression and export (graphs) disagree with eager code.
"""

import importlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no CUDA start-up lines without a GPU

import tensorflow  # noqa: E402,F401  (see above)
from absl import app, flags  # noqa: E402

NAMES = ("train", "codec", "evaluate", "compare", "export", "serve-local", "serve-client")


def _fail(message, status):
  message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


def run(main, errors=(ValueError, OSError), arguments=False):
  """`app.run(main)`, but a bad flag or `app.UsageError` is one `error:` line and exit status
  2 (absl would print every flag first), and `errors` raised by `main` one line and status 1.
  Without `arguments`, a command given any (besides flags) is refused. `--help` shows the
  command's docstring and flags."""
  command = sys.modules[main.__module__]
  sys.modules["__main__"].__doc__ = command.__doc__
  for flag in flags.FLAGS.get_key_flags_for_module(command.__name__):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  name = os.path.basename(sys.argv[0])

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      _fail(f"{error} (see {name} --help)", 2)

  def guarded(argv):
    try:
      if not arguments and len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
      return main(argv)
    except app.UsageError as error:
      _fail(f"{error} (see {name} --help)", 2)
    except errors as error:
      _fail(error, 1)

  app.run(guarded, flags_parser=parse)


def main():
  """`tfquant COMMAND [flags]`: runs one command (only its module is imported: commands
  share flag names)."""
  if len(sys.argv) < 2 or sys.argv[1] not in NAMES:
    given = f" {sys.argv[1]!r}" if len(sys.argv) > 1 else ""
    _fail(f"unknown or missing command{given}; choose from {', '.join(NAMES)}", 2)
  name = sys.argv.pop(1)
  sys.argv[0] = f"tfquant {name}"
  importlib.import_module(f"tfquant.commands.{name.replace('-', '_')}").run()
