"""Serve an exported model on localhost by gRPC and REST, like tensorflow_model_server.

  bin/serve-local --export_dir=DIR [--name=tfquant] [--grpc_port=8500] [--rest_port=8501]

A development stand-in (see docs/serving.md), not a production server.
"""

import os
import time

from absl import flags

from tfquant import commands

flags.DEFINE_string("export_dir", None, "Directory given to bin/export --out.")
flags.DEFINE_string("name", "tfquant", "Model name (a subdirectory of --export_dir).")
flags.DEFINE_integer("grpc_port", 8500, "gRPC port on 127.0.0.1.")
flags.DEFINE_integer("rest_port", 8501, "REST port on 127.0.0.1.")
flags.mark_flag_as_required("export_dir")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfquant import serving
  server = serving.LocalModelServer(FLAGS.name, os.path.join(FLAGS.export_dir, FLAGS.name),
                                    FLAGS.grpc_port, FLAGS.rest_port).start()
  print(f"Serving {FLAGS.name} v{server.model.version}: gRPC {server.grpc_address}, "
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
