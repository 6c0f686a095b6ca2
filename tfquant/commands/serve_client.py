"""Send an image (or a .tfq file) to a TF Serving endpoint and write the result.

  bin/serve-client --server=localhost:8500 compress in.png out.tfq
  bin/serve-client --lambda=0.01 compress in.png out.tfq     (a variable-rate model's export)
  bin/serve-client --protocol=rest --server=http://localhost:8501 decompress in.tfq out.png
"""

import math

from absl import app, flags

from tfquant import commands

flags.DEFINE_string("server", "localhost:8500", "host:port (gRPC) or http://host:port (REST).")
flags.DEFINE_enum("protocol", "grpc", ["grpc", "rest"], "TF Serving API to use.")
flags.DEFINE_string("model_name", "tfquant", "Model name on the server.")
flags.register_validator("model_name", commands.valid_model_name, commands.MODEL_NAME_RULE)
flags.DEFINE_float("timeout", 120.0, "Seconds to wait for an answer.")
flags.register_validator("timeout", lambda value: 0 < value < math.inf,
                         "--timeout must be a positive number of seconds")
flags.DEFINE_float("lambda", None, "compress: the λ a variable-rate model's export codes at "
                   "(its compress signature's lmbda input).")
FLAGS = flags.FLAGS


def main(argv):
  if len(argv) != 4 or argv[1] not in ("compress", "decompress"):
    raise app.UsageError("give compress IMAGE OUT.tfq or decompress FILE.tfq OUT.png")
  command, source, destination = argv[1:]
  import numpy as np
  from tfquant import data, serving
  from tfquant import files
  predict = serving.grpc_predict if FLAGS.protocol == "grpc" else serving.rest_predict
  try:
    if command == "compress":
      inputs = {"image": data.read_image(source)}
      if FLAGS["lambda"].value is not None:
        inputs["lmbda"] = np.array(FLAGS["lambda"].value, np.float32)
      outputs = predict(FLAGS.server, FLAGS.model_name, "compress", inputs, FLAGS.timeout)
      payload = outputs["bitstream_bytes"]
      files.write_atomically(destination, payload.item() if hasattr(payload, "item")
                             else payload)
    else:
      with open(source, "rb") as f:
        payload = f.read()
      outputs = predict(FLAGS.server, FLAGS.model_name, "decompress",
                        {"bitstream_bytes": np.array(payload, dtype=object)}, FLAGS.timeout)
      image = np.asarray(outputs["image"], np.uint8)
      files.write_atomically(destination, files.png_bytes(image))
  except serving.ServingError as error:
    raise ValueError(str(error)) from None  # one error: line, as bad paths and values
  print(f"{source} -> {destination}")


def run():
  commands.run(main, arguments=True)


if __name__ == "__main__":
  run()
