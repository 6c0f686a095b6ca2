"""Per-thread settings that code reads while a graph is traced inside `with setting.to(v):`
(what the graph is for decides how it is built, e.g. constants in the library's own coding
graphs but not in an export)."""

import contextlib
import threading


class Setting:
  """None, except inside `with setting.to(value):` in the same thread."""

  def __init__(self):
    self._state = threading.local()

  @property
  def value(self):
    return getattr(self._state, "value", None)

  @contextlib.contextmanager
  def to(self, value):
    previous = self.value
    self._state.value = value
    try:
      yield value
    finally:
      self._state.value = previous


class Switch(Setting):
  """Off, except inside `with switch.on():` in the same thread."""

  def __bool__(self):
    return bool(self.value)

  def on(self):
    return self.to(True)
