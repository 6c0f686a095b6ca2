"""Imported first by every bin/ script: run under the repo's .venv (when present), make the
repo importable without installation, and import TensorFlow before absl's `app.run`.

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
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, REPO)

import tensorflow  # noqa: E402,F401  (before app.run; see above)
