"""Export a trained model as a SavedModel in TF Serving's layout.

  bin/export --model=RUN --export_dir=DIR [--model_name=tfquant] [--version=N] [--coder=tf|tfc]

Writes DIR/<name>/<version>/ (signatures compress and decompress on .tfq bytes) and
DIR/models.config. See docs/serving.md.
"""

import os

from absl import flags

from tfquant import commands, export
from tfquant.coding import coders

flags.DEFINE_string("model", None, "Training run (or its best/, checkpoints/ckpt-N), saved "
                    "model directory, or zoo:NAME.")
flags.DEFINE_string("export_dir", None, "TF Serving's base folder: the SavedModel goes in "
                    "EXPORT_DIR/MODEL_NAME/VERSION, the config in EXPORT_DIR/models.config.")
flags.DEFINE_string("model_name", "tfquant", "Model name for TF Serving.")
flags.register_validator("model_name", commands.valid_model_name, commands.MODEL_NAME_RULE)
flags.DEFINE_alias("out", "export_dir")
flags.DEFINE_alias("name", "model_name")
flags.DEFINE_integer("version", None, "Version number (default: one more than the newest).",
                     lower_bound=1)
flags.DEFINE_enum("coder", export.DEFAULT_CODER, coders.NAMES,
                  "Entropy coder in the graph: tf (pure-TF rANS: stock TensorFlow and TF "
                  "Serving run it) or tfc (tensorflow-compression's range coder; the runtime "
                  "needs its ops).")
flags.mark_flags_as_required(["model", "export_dir"])
FLAGS = flags.FLAGS


def main(argv):
  del argv
  from tfquant import train
  path = export.export(train.load_model(FLAGS.model), FLAGS.export_dir, FLAGS.model_name,
                       FLAGS.version, FLAGS.coder)
  print(f"SavedModel: {path}\nTF Serving config: {os.path.join(FLAGS.export_dir, 'models.config')}")


def run():
  commands.run(main)


if __name__ == "__main__":
  run()
