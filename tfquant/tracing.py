"""Per-thread switches that code reads while a graph is traced inside `with switch.on():`
(what the graph is for decides how it is built, e.g. constants in the library's own coding
graphs but not in an export)."""

import contextlib
import threading


class Switch:
  """Off, except inside `with switch.on():` in the same thread."""

  def __init__(self):
    self._state = threading.local()

  def __bool__(self):
    return getattr(self._state, "on", False)

  @contextlib.contextmanager
  def on(self):
    previous = bool(self)
    self._state.on = True
    try:
      yield
    finally:
      self._state.on = previous
