import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Importing TensorFlow sets TF2_BEHAVIOR=1, which bin/ scripts started by tests would inherit;
# drop it so they run as they do from a shell (see tfquant/commands/__init__.py).
os.environ.pop("TF2_BEHAVIOR", None)


@pytest.fixture(autouse=True)
def seeded():
  tf.random.set_seed(1234)
  np.random.seed(1234)
  yield
  tf.keras.mixed_precision.set_global_policy("float32")
