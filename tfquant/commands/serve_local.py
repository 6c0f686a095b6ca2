"""Serve an exported model on localhost by gRPC and REST, like tensorflow_model_server.

  bin/serve-local --export_dir=DIR [--model_name=tfquant] [--port=8500] [--rest_api_port=8501]

A development stand-in (see docs/serving.md), not a production server.
"""

import os
import time

from absl import flags

from tfquant import commands

flags.DEFINE_string("export_dir", None, "The folder bin/export --export_dir wrote.")
flags.DEFINE_string("model_name", "tfquant", "Model name (a subfolder of --export_dir).")
flags.register_validator("model_name", commands.valid_model_name, commands.MODEL_NAME_RULE)
flags.DEFINE_integer("port", 8500, "gRPC port on 127.0.0.1 (as tensorflow_model_server).",
                     lower_bound=1, upper_bound=65535)
flags.DEFINE_integer("rest_api_port", 8501, "REST port on 127.0.0.1 (as "
                     "tensorflow_model_server).", lower_bound=1, upper_bound=65535)
flags.DEFINE_alias("name", "model_name")
flags.DEFINE_alias("grpc_port", "port")
flags.DEFINE_alias("rest_port", "rest_api_port")
flags.mark_flag_as_required("export_dir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfquant import serving
  server = serving.LocalModelServer(
      FLAGS.model_name, os.path.join(FLAGS.export_dir, FLAGS.model_name), FLAGS.port,
      FLAGS.rest_api_port).start()
  print(f"Serving {FLAGS.model_name} v{server.model.version}: gRPC {server.grpc_address}, "
        f"REST {server.rest_url}", flush=True)
  try:
    while True:
      time.sleep(3600)
  except KeyboardInterrupt:
    server.stop()


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
