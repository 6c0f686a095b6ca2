"""Imported first by every bin/ script: run under the repo's .venv (when present), make the
repo importable without installation, import TensorFlow quietly before absl's `app.run`, and
`run` a command so that every failure is one `error:` line.

TensorFlow imported for the first time inside `app.run`'s main (from a shell, i.e. without
the TF2_BEHAVIOR=1 that importing TensorFlow leaves for child processes) sees
`executing_eagerly_outside_functions()` as False in every tf.function, so `Tensor.__eq__`
there is object identity: `tfc.GDN` then takes its `inputs ** alpha` branch instead of
|inputs|, and training, compression and export (graphs) disagree with eager code.
"""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
_python = os.path.join(VENV, "bin", "python")

if os.path.exists(_python) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
  os.execv(_python, [_python] + sys.argv)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no CUDA start-up lines on machines without
sys.path.insert(0, REPO)

import tensorflow  # noqa: E402,F401  (before app.run; see above)
from absl import app, flags  # noqa: E402


def _fail(message, status):
  message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


def run(main, errors=(ValueError, OSError)):
  """`app.run(main)`, but a bad flag or `app.UsageError` is one `error:` line and exit status
  2 (absl would print every flag first), and `errors` raised by `main` one line and status 1.
  """
  command = os.path.basename(sys.argv[0])

  def parse(argv):
    try:
      return flags.FLAGS(argv)
    except flags.Error as error:
      _fail(f"{error} (see {command} --help)", 2)

  def guarded(argv):
    try:
      return main(argv)
    except app.UsageError as error:
      _fail(f"{error} (see {command} --help)", 2)
    except errors as error:
      _fail(error, 1)

  app.run(guarded, flags_parser=parse)
