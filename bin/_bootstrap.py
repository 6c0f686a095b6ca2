"""Imported first by every bin/ script: run under the repo's .venv (when present) and make the
repo importable without installation. The commands themselves are `tfquant.commands`."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(REPO, ".venv")
_python = os.path.join(VENV, "bin", "python")

if os.path.exists(_python) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
  os.execv(_python, [_python] + sys.argv)
sys.path.insert(0, REPO)
