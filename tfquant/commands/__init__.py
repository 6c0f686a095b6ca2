"""The command-line tools: `tfquant COMMAND [flags]` (installed), `python -m tfquant COMMAND`,
or `bin/COMMAND` in a checkout. One module per command, each with its absl flags and `run()`.

Ctrl-C while a command starts (TensorFlow's import takes seconds) is one line and status 130,
as later. Importing this package first quiets TensorFlow's start-up and imports it before absl's
`app.run`: TensorFlow imported for the first time inside `app.run`'s main (from a shell, i.e.
without the TF2_BEHAVIOR=1 that importing TensorFlow leaves for child processes) sees
`executing_eagerly_outside_functions()` as False in every tf.function, so `Tensor.__eq__`
there is object identity: `tfc.GDN` then takes its `inputs ** alpha` branch instead of
|inputs|, and training, compression and export (graphs) disagree with eager code.
"""

import ast
import importlib
import importlib.util
import logging
import os
import re
import signal
import sys
import threading
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # no CUDA start-up lines without a GPU


def _interrupted_while_starting(signum, frame):
  del signum, frame
  print("error: interrupted", file=sys.stderr)
  os._exit(130)  # nothing was started yet, and a half-imported TensorFlow must not unwind


NAMES = ("train", "codec", "evaluate", "compare", "export", "serve-local", "serve-client",
         "zoo", "make-zoo")

_program = os.path.basename(sys.argv[0]) if sys.argv else ""
if _program in NAMES or _program.startswith("tfquant") or sys.argv[0].endswith(
    os.path.join("tfquant", "__main__.py")):  # a command starting (not a library import)
  signal.signal(signal.SIGINT, _interrupted_while_starting)  # until `run` takes Ctrl-C over

import tensorflow  # noqa: E402,F401  (see above)
from absl import app, flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402


def valid_model_name(name):
  """A TF Serving model name: one path component of letters, digits, '_', '.', '-'."""
  return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name or ""))


MODEL_NAME_RULE = "--model_name must be letters, digits, '_', '.' or '-' (one folder name)"


def _fail(message, status):
  message = "; ".join(line.strip() for line in str(message).splitlines() if line.strip())
  print(f"error: {message}", file=sys.stderr)
  sys.exit(status)


class _PlainLogFormat(logging.Formatter):
  """absl's log lines as a person reads them: INFO plain, the rest with a lowercase level
  (`warning: ...`), no time, thread or source line."""

  def format(self, record):
    message = record.getMessage()
    return message if record.levelno <= logging.INFO else f"{record.levelname.lower()}: {message}"


def _plain_warning(message, category, filename, lineno, file=None, line=None):
  del category, filename, lineno, line
  print(f"warning: {message}", file=file or sys.stderr)


def _plain_output():
  """Warnings and log lines as one plain line each; TensorFlow's own INFO lines (what it
  renames in a SavedModel, where it writes assets) dropped."""
  warnings.showwarning = _plain_warning
  absl_logging.get_absl_handler().setFormatter(_PlainLogFormat())
  tensorflow.get_logger().setLevel(logging.WARNING)
  absl_logging.set_verbosity(absl_logging.WARNING)


INTERRUPT_GRACE_SECONDS = 30.0


def _end_after_an_unheeded_interrupt():
  """Python acts on Ctrl-C between instructions of the main thread, and a TensorFlow op can
  block that thread for good: a Ctrl-C during a training run's first step has been seen to
  hang it. A watcher thread ends the process if the main thread has not ended it
  `INTERRUPT_GRACE_SECONDS` after a Ctrl-C (time for a checkpoint being written to finish)."""
  read, write = os.pipe()
  os.set_blocking(write, False)
  signal.set_wakeup_fd(write, warn_on_full_buffer=False)

  def watch():
    while os.read(read, 1)[0] != signal.SIGINT:
      pass
    time.sleep(INTERRUPT_GRACE_SECONDS)
    print("error: interrupted", file=sys.stderr, flush=True)
    os._exit(130)

  threading.Thread(target=watch, name="interrupt-watcher", daemon=True).start()


def _quiet_broken_pipe():
  """A reader that stopped reading (`| head`) is no error: the rest of the output goes
  nowhere, and Python's flush at exit stays silent."""
  devnull = os.open(os.devnull, os.O_WRONLY)
  os.dup2(devnull, sys.stdout.fileno())
  sys.exit(0)


def _interrupt_in_a_callback(error):
  """A Ctrl-C that lands while TensorFlow's C++ is calling back into Python (tracing a
  training step) reaches us through pybind11 as a `RuntimeError` whose message is
  "KeyboardInterrupt: ..." followed by the frames."""
  return "KeyboardInterrupt" in str(error).split("\n", 1)[0]


def run(main, errors=(ValueError, OSError), arguments=False):
  """`app.run(main)`, but a bad flag, a flag given twice or `app.UsageError` is one `error:`
  line and exit status 2 (absl would print every flag first, or keep the last value), and
  `errors` raised by `main` one line and status 1 (an `OSError` as "PATH: reason").
  Ctrl-C is one line (a `KeyboardInterrupt`'s message where it has one, such as where a run
  resumes) and status 130; a closed pipe on the output ends the command quietly. Without
  `arguments`, a command given any (besides flags) is refused. `--help` shows the command's
  docstring and flags."""
  command = sys.modules[main.__module__]
  doc = command.__doc__
  if not os.path.basename(sys.argv[0]).startswith(tuple(NAMES)):  # installed: tfquant COMMAND
    doc = re.sub(r"\bbin/([a-z-]+)", r"tfquant \1", doc)
  sys.modules["__main__"].__doc__ = doc
  for flag in flags.FLAGS.get_key_flags_for_module(command.__name__):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  name = os.path.basename(sys.argv[0])

  def parse(argv):
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as error:
      _fail(f"{error} (see {name} --help)", 2)
    except SystemExit as done:  # absl ends the help it printed with status 1
      if done.code == 1 and set(argv[1:]) & {"--help", "-h", "-?", "--helpshort", "--helpfull"}:
        sys.exit(0)
      raise
    repeated = sorted(n for n in flags.FLAGS if flags.FLAGS[n].present > 1 and
                      not isinstance(flags.FLAGS[n], flags.MultiFlag))
    if repeated:  # absl would keep the last value without a word
      _fail(f"flag --{repeated[0]} given more than once (or with its alias) (see {name} "
            "--help)", 2)
    return remaining

  def guarded(argv):
    _plain_output()
    try:
      if not arguments and len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
      return main(argv)
    except app.UsageError as error:
      _fail(f"{error} (see {name} --help)", 2)
    except KeyboardInterrupt as error:
      _fail(str(error) or "interrupted", 130)
    except BrokenPipeError:
      raise
    except Exception as error:
      if _interrupt_in_a_callback(error):
        _fail("interrupted", 130)
      if not isinstance(error, errors):
        raise
      if isinstance(error, OSError) and error.strerror:  # not "[Errno 2] ...: 'path'"
        error = f"{error.filename}: {error.strerror}" if error.filename else error.strerror
      _fail(error, 1)

  signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C: KeyboardInterrupt again
  _end_after_an_unheeded_interrupt()
  try:
    app.run(guarded, flags_parser=parse)
  except BrokenPipeError:
    _quiet_broken_pipe()
  except KeyboardInterrupt:  # while absl parsed the flags
    _fail("interrupted", 130)


def usage():
  """`tfquant --help`: every command with the first line of its docstring."""
  lines = ["usage: tfquant COMMAND [flags]   (tfquant COMMAND --help for a command's flags)", ""]
  for name in NAMES:
    spec = importlib.util.find_spec(f"tfquant.commands.{name.replace('-', '_')}")
    with open(spec.origin, encoding="utf-8") as f:
      summary = ast.get_docstring(ast.parse(f.read())).splitlines()[0]
    lines.append(f"  {name:<13} {summary}")
  return "\n".join(lines)


def main():
  """`tfquant COMMAND [flags]`: runs one command (only its module is imported: commands
  share flag names)."""
  if sys.argv[1:2] in (["--help"], ["-h"], ["help"]):
    try:
      print(usage())
    except BrokenPipeError:
      _quiet_broken_pipe()
    return
  if len(sys.argv) < 2 or sys.argv[1] not in NAMES:
    given = f" {sys.argv[1]!r}" if len(sys.argv) > 1 else ""
    _fail(f"unknown or missing command{given}; choose from {', '.join(NAMES)} "
          "(see tfquant --help)", 2)
  name = sys.argv.pop(1)
  sys.argv[0] = f"tfquant {name}"
  importlib.import_module(f"tfquant.commands.{name.replace('-', '_')}").run()
