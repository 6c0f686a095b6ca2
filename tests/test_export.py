import os
import urllib.error
import urllib.request
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfquant import coding, export, models, serving
from tests.helpers import sample_image, tiny, trained

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FRESH_PROCESS = r"""
import sys
import numpy as np
import tensorflow as tf
path, coder = sys.argv[1], sys.argv[5]
if coder == "tfc":
  import tensorflow_compression  # noqa: F401  (registers the range-coding ops)
else:  # stock TensorFlow: every op type of the graph is registered without tfc
  from tensorflow.core.protobuf import saved_model_pb2
  from tensorflow.python.framework import op_def_registry
  saved = saved_model_pb2.SavedModel()
  with open(path + "/saved_model.pb", "rb") as f:
    saved.ParseFromString(f.read())
  graph = saved.meta_graphs[0].graph_def
  ops = {node.op for node in graph.node} | {node.op for function in graph.library.function
                                            for node in function.node_def}
  missing = sorted(op for op in ops if op_def_registry.get(op) is None)
  assert not missing, f"ops not registered in plain TensorFlow: {missing}"
loaded = tf.saved_model.load(path)
image = np.load(sys.argv[2])
stream = loaded.signatures["compress"](image=tf.constant(image))["bitstream_bytes"].numpy()
decoded = loaded.signatures["decompress"](bitstream_bytes=tf.constant(stream))["image"]
with open(sys.argv[3], "wb") as f:
  f.write(stream)
np.save(sys.argv[4], decoded.numpy())
unwanted = ("tfquant",) if coder == "tfc" else ("tfquant", "tensorflow_compression")
imported = [m for m in sys.modules if m.startswith(unwanted)]
assert not imported, f"imported {imported}"
"""


@pytest.fixture(scope="module")
def model():
  return trained("balle2018", "universal", "dsq")


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("export"))
  path = export.export(model, out, coder="tfc")
  return out, path


def test_layout_and_models_config(exported):
  out, path = exported
  assert path == os.path.join(out, "tfquant", "1")
  assert os.path.exists(os.path.join(path, "saved_model.pb"))
  with open(os.path.join(out, "models.config")) as f:
    config = f.read()
  assert 'name: "tfquant"' in config and os.path.abspath(os.path.join(out, "tfquant")) in config
  assert models.load(os.path.join(path, "assets", export.ASSET_MODEL_DIR)).finalized


def test_versions_increment(model, exported):
  out, _ = exported
  assert export.next_version(os.path.join(out, "tfquant")) == 2
  with pytest.raises(FileExistsError):
    export.export(model, out, version=1)


def test_unfinalized_model_is_refused(tmp_path):
  with pytest.raises(ValueError, match="finalized"):
    export.export(models.create("balle2017", num_filters=8), str(tmp_path))


def assert_fresh_process_round_trip_matches_library(model, path, tmp_path, coder="tfc"):
  image = sample_image(70, 101)
  np.save(tmp_path / "image.npy", image)
  script = tmp_path / "fresh.py"
  script.write_text(FRESH_PROCESS)
  result = subprocess.run([sys.executable, str(script), path, str(tmp_path / "image.npy"),
                           str(tmp_path / "out.tfq"), str(tmp_path / "decoded.npy"), coder],
                          capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=""), cwd=str(tmp_path))
  assert result.returncode == 0, result.stderr[-3000:]
  stream = (tmp_path / "out.tfq").read_bytes()
  assert stream == coding.encode(model, image, coder=coder)
  np.testing.assert_array_equal(np.load(tmp_path / "decoded.npy"), coding.decode(model, stream))


def test_fresh_process_round_trip_matches_library_byte_for_byte(model, exported, tmp_path):
  assert_fresh_process_round_trip_matches_library(model, exported[1], tmp_path)


def test_stock_tensorflow_runs_a_tf_coder_export(model, tmp_path):
  """No tensorflow_compression, no tfquant: every op is plain TensorFlow's, and the bytes and
  the image are the library's."""
  path = export.export(model, str(tmp_path / "export"))
  assert_fresh_process_round_trip_matches_library(model, path, tmp_path, "tf")


@pytest.mark.parametrize("context,components", [("checkerboard", 1), ("serial", 3)])
def test_stock_tensorflow_runs_context_model_exports(tmp_path, context, components):
  """Minnen18's checkerboard (indexed tables) and a serial mixture (bisection) as well."""
  model = models.create("minnen2018", context=context, components=components,
                        **tiny("minnen2018"))
  model.finalize()
  path = export.export(model, str(tmp_path / "export"))
  assert_fresh_process_round_trip_matches_library(model, path, tmp_path, "tf")


def test_signatures_refuse_bad_streams(model, exported):
  _, path = exported
  loaded = tf.saved_model.load(path)
  decompress = loaded.signatures["decompress"]
  stream = coding.encode(model, sample_image(32, 32))
  other = models.create("balle2018", num_filters=8, latent_filters=12)
  other.finalize()
  foreign = coding.encode(other, sample_image(32, 32))
  rng = np.random.RandomState(0)
  bad = [b"", b"hello world", stream[:-1], stream[:20], foreign]
  for _ in range(30):
    mutated = bytearray(stream)
    mutated[rng.randint(len(stream))] ^= 1 + rng.randint(255)
    bad.append(bytes(mutated))
  expected_messages = ("not a tfquant", "Not a tfquant", "Truncated", "CRC-32",
                       "another model", "lengths", "version")
  for data in bad:
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
      decompress(bitstream_bytes=tf.constant(data))
    assert any(m in error.value.message for m in expected_messages), error.value.message


def test_forward_is_differentiable_for_fine_tuning(exported):
  _, path = exported
  loaded = tf.saved_model.load(path)
  x = tf.random.uniform([1, 64, 64, 3])
  with tf.GradientTape() as tape:
    loss = loaded.forward(x, tf.constant(0, tf.int64))["loss"]
  grads = tape.gradient(loss, loaded.trainable_weights)
  assert len(grads) == len(loaded.trainable_weights) and all(g is not None for g in grads)


def run_client(*args):
  return subprocess.run([sys.executable, os.path.join(REPO, "bin", "serve-client"), *args],
                        capture_output=True, text=True, timeout=300)


def test_serve_client_grpc_and_rest_match_library(model, exported, tmp_path):
  out, _ = exported
  image = sample_image(45, 67)
  source = tmp_path / "in.png"
  Image.fromarray(image).save(source)
  expected_stream = coding.encode(model, image)
  expected_image = coding.decode(model, expected_stream)
  with serving.LocalModelServer("tfquant", os.path.join(out, "tfquant")) as server:
    for protocol, address in (("grpc", server.grpc_address), ("rest", server.rest_url)):
      coded, decoded = tmp_path / f"{protocol}.tfq", tmp_path / f"{protocol}.png"
      for command, src, dst in (("compress", source, coded), ("decompress", coded, decoded)):
        result = run_client(f"--protocol={protocol}", f"--server={address}", command,
                            str(src), str(dst))
        assert result.returncode == 0, result.stderr
      assert coded.read_bytes() == expected_stream
      np.testing.assert_array_equal(np.asarray(Image.open(decoded)), expected_image)
    for predict, address in ((serving.grpc_predict, server.grpc_address),
                             (serving.rest_predict, server.rest_url)):
      with pytest.raises(serving.ServingError, match="CRC-32|Truncated"):
        predict(address, "tfquant", "decompress",
                {"bitstream_bytes": np.array(expected_stream[:-3], dtype=object)})
      with pytest.raises(serving.ServingError, match="not found|Servable"):
        predict(address, "nope", "compress", {"image": image})
    request = urllib.request.Request(f"{server.rest_url}/v1/models/tfquant:predict",
                                     data=b'{"foo": 1}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
      urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 400 and b'needs \\"inputs\\"' in refused.value.read()
    for taken in ({"grpc_port": server.grpc_port}, {"rest_port": server.rest_port}):
      with pytest.raises(OSError, match="port is in use|Address already in use"):
        serving.LocalModelServer("tfquant", os.path.join(out, "tfquant"), **taken)
  result = run_client("--protocol=rest", "--server=http://127.0.0.1:9", "compress",
                      str(source), str(tmp_path / "x.tfq"))
  assert result.returncode != 0 and "Cannot reach" in result.stderr
