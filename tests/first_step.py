"""Runs one training step under a strategy and saves the updated weights (for test_train).

  python tests/first_step.py STRATEGY CPU_DEVICES OUT.npz INITIAL.npz

TF_CONFIG must be set for multi_worker. Runs start from the weights in INITIAL.npz, which the
first run (whose file does not exist yet) writes.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfquant import train  # noqa: E402


def main(strategy, cpu_devices, out, initial_path):
  if int(cpu_devices) > 1:
    train.split_cpu(int(cpu_devices))
  train.make_strategy(strategy)  # collectives must be configured before any other op
  config = train.resolve_config(overrides=dict(
      arch="balle2018", ent_quant="ste", num_filters=8, latent_filters=12, batch_size=4,
      patch_size=64, steps=1, lr=1e-3, train_glob="unused", strategy=strategy,
      train_dir=os.path.dirname(out) + f"/run-{strategy}"))
  batch = np.random.RandomState(0).uniform(size=(4, 64, 64, 3)).astype(np.float32)

  def dataset_fn(context):
    # Pipeline i takes images i, i + n, ...; replicas of one pipeline take consecutive
    # batches. Either way the replicas together see the same 4 images as one device.
    images = tf.data.Dataset.from_tensor_slices(batch)
    images = images.shard(context.num_input_pipelines, context.input_pipeline_id)
    return images.batch(context.get_per_replica_batch_size(4)).repeat()

  trainer = train.Trainer(config, dataset_fn=dataset_fn)
  variables = trainer.model.trainable_variables
  if os.path.exists(initial_path):
    with np.load(initial_path) as saved:
      for index, variable in enumerate(variables):
        variable.assign(saved[f"arr_{index}"])
  elif trainer.chief:
    np.savez(initial_path, *[v.numpy() for v in variables])
  trainer.fit(progress=False)
  if trainer.chief:
    # Adam's first moment after one step is (1 - beta_1) × the aggregated gradient.
    adam = trainer.optimizer
    np.savez(out, *[adam._momentums[adam._index_dict[adam._var_key(v)]].numpy()
                    for v in variables])


if __name__ == "__main__":
  main(*sys.argv[1:])
