import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# `make test` runs two workers on two cores: each computes in one thread, as TensorFlow's
# threads would otherwise outnumber the cores and spin while they wait (three of the test
# files took 293 s so, 251 s in one thread each). Processes that tests start keep
# TensorFlow's default.
tf.config.threading.set_intra_op_parallelism_threads(1)

# Importing TensorFlow sets TF2_BEHAVIOR=1, which bin/ scripts started by tests would inherit;
# drop it so they run as they do from a shell (see tfquant/commands/__init__.py).
os.environ.pop("TF2_BEHAVIOR", None)


@pytest.fixture(autouse=True)
def seeded():
  tf.random.set_seed(1234)
  np.random.seed(1234)
  yield
  tf.keras.mixed_precision.set_global_policy("float32")


# `make test` hands whole files to two workers in collection order (--no-loadscope-reorder):
# the files whose tests run for minutes go first, longest first, so that the many quick files
# fill the end and both workers finish together (`--durations=0` sums per file, on two cores).
# A file that grows past a minute belongs here: left among the quick ones, it runs last, alone.
LONGEST_FILES = ("test_context_models.py", "test_train.py", "test_models.py",
                 "test_zoo_files.py", "test_commands.py", "test_variable_rate.py",
                 "test_evaluate.py", "test_export.py", "test_refine.py", "test_coding.py",
                 "test_zoo.py", "test_widen.py")


def pytest_collection_modifyitems(items):
  def rank(item):
    name = item.path.name
    return LONGEST_FILES.index(name) if name in LONGEST_FILES else len(LONGEST_FILES)
  items.sort(key=rank)  # stable: each file keeps its own order
