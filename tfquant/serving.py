"""Talking to TF Serving: a client for its gRPC and REST predict APIs, and a local stand-in.

`LocalModelServer` serves an exported SavedModel behind the same two protocols as
`tensorflow_model_server` (gRPC `PredictionService/Predict` and REST
`POST /v1/models/<name>[/versions/<v>]:predict`). It exists because no model-server binary
runs here; it is for development and tests, not production. REST follows TF Serving's
conventions: the columnar "inputs" form, and binary tensors (names ending in `_bytes`) as
{"b64": ...}.
"""

import base64
import concurrent.futures
import json
import os
import re
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


class ServingError(RuntimeError):
  """The server refused or failed a request."""


def _to_json(name, value):
  if name.endswith("_bytes"):
    if isinstance(value, np.ndarray):
      value = value.item()
    return {"b64": base64.b64encode(value).decode("ascii")}
  return np.asarray(value).tolist()


def _explain(error):
  """The assertion's own message from a TensorFlow error, else its first line."""
  found = re.search(r"assertion failed: \[(.*?)\]", error.message)
  return found.group(1) if found else error.message.strip().splitlines()[0]


def _from_json(name, value):
  if name.endswith("_bytes"):
    if not (isinstance(value, dict) and "b64" in value):
      raise ServingError(f"Input {name!r} must be given as {{\"b64\": ...}}.")
    return base64.b64decode(value["b64"])
  return value


# --- client ----------------------------------------------------------------------------------

def grpc_predict(address, model_name, signature, inputs, timeout=60.0):
  """Calls PredictionService/Predict; `inputs` {name: numpy value}; returns {name: value}."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature
  for name, value in inputs.items():
    request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
  with grpc.insecure_channel(address) as channel:
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    try:
      response = stub.Predict(request, timeout=timeout)
    except grpc.RpcError as error:
      raise ServingError(f"gRPC {error.code().name}: {error.details()}") from None
  return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def rest_predict(url, model_name, signature, inputs, timeout=60.0):
  """POSTs to <url>/v1/models/<model>:predict (columnar form); returns {name: value}."""
  body = json.dumps({"signature_name": signature,
                     "inputs": {k: _to_json(k, v) for k, v in inputs.items()}}).encode()
  url = url if "://" in url else f"http://{url}"  # host:port, as for gRPC
  request = urllib.request.Request(f"{url.rstrip('/')}/v1/models/{model_name}:predict",
                                   data=body, headers={"Content-Type": "application/json"})
  try:
    with urllib.request.urlopen(request, timeout=timeout) as response:
      payload = json.load(response)
  except urllib.error.HTTPError as error:
    detail = error.read().decode(errors="replace")
    raise ServingError(f"HTTP {error.code}: {detail}") from None
  except urllib.error.URLError as error:
    reason = getattr(error.reason, "strerror", None) or error.reason  # not "[Errno 111] ..."
    raise ServingError(f"Cannot reach {url}: {reason}") from None
  outputs = payload["outputs"]
  if not isinstance(outputs, dict):  # a single output is returned bare
    outputs = {"output": outputs}
  return {name: _from_json(name, value) if name.endswith("_bytes") else np.asarray(value)
          for name, value in outputs.items()}


# --- local stand-in server -------------------------------------------------------------------

def latest_version(base_path):
  if not os.path.isdir(base_path):
    raise FileNotFoundError(f"No exported model at {base_path} (bin/export --export_dir=DIR writes "
                            "DIR/NAME/VERSION).")
  versions = sorted(int(v) for v in os.listdir(base_path) if v.isdigit())
  if not versions:
    raise FileNotFoundError(f"No numbered versions under {base_path}.")
  return versions[-1]


class _Model:
  """A loaded SavedModel and its signatures, run by one thread at a time."""

  def __init__(self, name, base_path):
    self.name = name
    self.version = latest_version(base_path)
    self.loaded = tf.saved_model.load(os.path.join(base_path, str(self.version)))
    self.lock = threading.Lock()

  def predict(self, model_name, signature, inputs):
    if model_name != self.name:
      raise KeyError(f"Servable not found for request: {model_name!r}")
    signature = signature or "serving_default"
    if signature not in self.loaded.signatures:
      raise KeyError(f"Serving signature name: {signature!r} not found in signature def")
    function = self.loaded.signatures[signature]
    specs = function.structured_input_signature[1]
    tensors = {}
    for name, spec in specs.items():
      if name not in inputs:
        raise ValueError(f"Missing input {name!r}")
      tensors[name] = tf.constant(inputs[name], dtype=spec.dtype)
    with self.lock:
      try:
        outputs = function(**tensors)
      except tf.errors.InvalidArgumentError as error:
        raise ValueError(_explain(error)) from None
    return {k: v.numpy() for k, v in outputs.items()}


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, model):
    self.model = model

  def Predict(self, request, context):  # noqa: N802 (gRPC method name)
    inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
    try:
      outputs = self.model.predict(request.model_spec.name, request.model_spec.signature_name,
                                   inputs)
    except KeyError as error:
      context.abort(grpc.StatusCode.NOT_FOUND, str(error))
    except ValueError as error:
      context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
    response = predict_pb2.PredictResponse()
    response.model_spec.name = self.model.name
    response.model_spec.version.value = self.model.version
    response.model_spec.signature_name = request.model_spec.signature_name
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    return response


def _rest_handler(model):

  class Handler(BaseHTTPRequestHandler):

    def log_message(self, *args):
      del args

    def _reply(self, status, payload):
      body = json.dumps(payload).encode()
      self.send_response(status)
      self.send_header("Content-Type", "application/json")
      self.send_header("Content-Length", str(len(body)))
      self.end_headers()
      self.wfile.write(body)

    def do_POST(self):  # noqa: N802
      path = self.path.split("?")[0]
      if not (path.startswith("/v1/models/") and path.endswith(":predict")):
        return self._reply(404, {"error": f"Malformed request: POST {path}"})
      model_name = path[len("/v1/models/"):-len(":predict")].split("/versions/")[0]
      try:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        if not isinstance(request, dict) or not isinstance(request.get("inputs"), dict):
          raise ValueError('The JSON body needs "inputs": {name: value, ...} (the columnar '
                           'format; the row format "instances" is not served).')
        inputs = {k: _from_json(k, v) for k, v in request["inputs"].items()}
        outputs = model.predict(model_name, request.get("signature_name"), inputs)
      except KeyError as error:
        return self._reply(404, {"error": str(error)})
      except (ValueError, ServingError, json.JSONDecodeError, TypeError) as error:
        return self._reply(400, {"error": str(error)})
      return self._reply(200, {"outputs": {k: _to_json(k, v) for k, v in outputs.items()}})

  return Handler


class LocalModelServer:
  """Serves the newest version under `base_path` on localhost by gRPC and REST.

  Use as a context manager; ports 0 pick free ones (see `grpc_address`, `rest_url`).
  """

  def __init__(self, model_name, base_path, grpc_port=0, rest_port=0):
    self.model = _Model(model_name, base_path)
    # Without SO_REUSEPORT a port in use is refused, not shared with the server holding it.
    self._grpc = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=4),
                             options=[("grpc.so_reuseport", 0)])
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(self.model), self._grpc)
    try:
      self.grpc_port = self._grpc.add_insecure_port(f"127.0.0.1:{grpc_port}")
    except RuntimeError:
      self.grpc_port = 0
    if not self.grpc_port:
      raise OSError(f"Cannot serve gRPC on 127.0.0.1:{grpc_port}: the port is in use.")
    try:
      self._http = ThreadingHTTPServer(("127.0.0.1", rest_port), _rest_handler(self.model))
    except OSError as error:
      self._grpc.stop(grace=None)
      raise OSError(f"Cannot serve REST on 127.0.0.1:{rest_port}: {error.strerror}.") from None
    self.rest_port = self._http.server_address[1]
    self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)

  @property
  def grpc_address(self):
    return f"127.0.0.1:{self.grpc_port}"

  @property
  def rest_url(self):
    return f"http://127.0.0.1:{self.rest_port}"

  def start(self):
    self._grpc.start()
    self._http_thread.start()
    return self

  def stop(self):
    self._http.shutdown()
    self._http.server_close()
    self._grpc.stop(grace=None)

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc):
    self.stop()
