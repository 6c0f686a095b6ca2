import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from tfquant import data, models, quantizers, train
from tests.helpers import TINY

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAMPLES = os.path.join(data.sample_dir(), "*.png")


def tiny_config(tmp_path, **overrides):
  values = dict(arch="balle2018", ent_quant="ste", batch_size=2, patch_size=64, steps=30,
                lr=1e-3, train_glob=SAMPLES, train_dir=str(tmp_path / "run"),
                checkpoint_every=10, summary_every=5, image_summary_every=10, **TINY)
  values.update(overrides)
  return train.resolve_config(overrides=values)


def repeat(batch):
  return lambda context: tf.data.Dataset.from_tensors(batch).repeat()


def fixed_batch(size=2):
  images = data.image_paths(data.sample_dir())
  crops = [data.read_image(images[i])[:64, :64] for i in range(size)]
  return tf.constant(np.stack(crops), tf.float32) / 255.0


@pytest.mark.parametrize("arch,context", [("balle2017", None), ("balle2018", None),
                                          ("minnen2018", "checkerboard")])
def test_overfits_a_fixed_batch(arch, context, tmp_path):
  config = tiny_config(tmp_path, arch=arch, context=context, ent_quant="universal",
                       dec_quant="ste")
  trainer = train.Trainer(config, dataset_fn=repeat(fixed_batch()))
  history = trainer.fit(progress=False)
  assert trainer.step == 30 and len(history) == 30
  losses = [h["loss"] for h in history]
  assert np.mean(losses[-5:]) < 0.7 * np.mean(losses[:5])


def test_run_directory_layout_and_final_model(tmp_path):
  config = tiny_config(tmp_path, ent_quant="sga", dec_quant="dsq", steps=20,
                       val_glob=os.path.join(data.sample_dir(), "sample[12].png"), val_every=5)
  train.train(config, progress=False)
  run = config.train_dir
  with open(os.path.join(run, "config.json")) as f:
    resolved = json.load(f)
  assert resolved["resolved_model_options"]["ent_quant"]["name"] == "sga"
  assert resolved["resolved_model_options"]["ent_quant"]["decay_start"] == round(0.997 * 20)
  assert sorted(os.listdir(os.path.join(run, "checkpoints")))[0].startswith("checkpoint")
  assert tf.train.latest_checkpoint(os.path.join(run, "checkpoints")).endswith("ckpt-20")
  assert tf.train.latest_checkpoint(os.path.join(run, "best")) is not None
  events = os.listdir(os.path.join(run, "train"))
  assert events and events[0].startswith("events.out.tfevents")
  tags = set()
  for event in tf.compat.v1.train.summary_iterator(os.path.join(run, "train", events[0])):
    tags.update(v.tag for v in event.summary.value)
  assert {"loss", "bpp", "mse", "psnr", "learning_rate", "original_reconstruction",
          "validation/loss"} <= tags
  assert any(t.endswith("sga/temperature") for t in tags)
  model = models.load(run)
  assert model.finalized and model.get_config()["ent_quant"]["name"] == "sga"
  # Commands take a run's best/ or any checkpoint too: rebuilt, restored, finalized.
  image = data.read_image(data.image_paths(data.sample_dir())[0])[:64, :64]
  for path in ("best", "checkpoints", os.path.join("checkpoints", "ckpt-10")):
    loaded = train.load_model(os.path.join(run, path))
    assert loaded.finalized
    assert loaded.decompress(*loaded.compress(image)).shape == image.shape
  final = train.load_model(os.path.join(run, "checkpoints", "ckpt-20"))
  for ours, theirs in zip(final.trainable_variables, model.trainable_variables):
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  best = int(tf.train.latest_checkpoint(os.path.join(run, "best")).rsplit("-", 1)[1])
  assert best in (5, 10, 15, 20)
  with pytest.raises(FileNotFoundError, match="No checkpoint"):
    train.load_model(os.path.join(run, "checkpoints", "ckpt-7"))


def test_without_validation_images_there_is_no_best(tmp_path):
  config = tiny_config(tmp_path, steps=10)
  train.train(config, progress=False)
  assert not os.path.exists(os.path.join(config.train_dir, "best"))
  with pytest.raises(ValueError, match="val_every needs --val_glob"):
    tiny_config(tmp_path, val_every=5)


def test_ml_collections_override_form_is_a_nested_setting():
  argv = ["train", "--config.arch_options.distortion=ms-ssim", "--config.lr", "0.5",
          "--config=configs/balle2018.py", "--lambda=0.02"]
  assert train.config_overrides_as_set(argv) == [
      "train", "--set=arch_options.distortion=ms-ssim", "--set=lr=0.5",
      "--config=configs/balle2018.py", "--lambda=0.02"]


def test_init_from_starts_a_fresh_run_from_another_runs_weights(tmp_path):
  source = tiny_config(tmp_path, steps=10, train_dir=str(tmp_path / "source"))
  trained = train.train(source, progress=False).model
  for init_from in (source.train_dir, os.path.join(source.train_dir, "checkpoints", "ckpt-10")):
    config = tiny_config(tmp_path, steps=10, lmbda=0.03, init_from=init_from,
                         train_dir=str(tmp_path / f"finetune{len(init_from)}"))
    trainer = train.Trainer(config, dataset_fn=repeat(fixed_batch()))
    assert trainer.restore() == 0  # weights only: the step, optimizer and data start anew
    for ours, theirs in zip(trainer.model.trainable_variables, trained.trainable_variables):
      np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
  with pytest.raises(ValueError, match="names no checkpoint"):
    tiny_config(tmp_path, init_from=str(tmp_path / "nothing"))


def test_init_from_a_zoo_model_with_other_quantizers(tmp_path):
  config = tiny_config(tmp_path, num_filters=64, latent_filters=96, ent_quant="universal",
                       dec_quant="dsq", quantizer_params={"dsq": {"learnable": True}},
                       init_from="zoo:balle2018-mse-0.01")
  trainer = train.Trainer(config, dataset_fn=repeat(fixed_batch()))
  assert trainer.restore() == 0
  readers = []
  for name, model in (("ours", trainer.model), ("zoo", models.load("zoo:balle2018-mse-0.01"))):
    readers.append(tf.train.load_checkpoint(
        tf.train.Checkpoint(model=model).write(str(tmp_path / name))))
  ours, zoo = (r.get_variable_to_shape_map() for r in readers)
  shared = [k for k in ours if k in zoo and "/_kernel_parameter/" in k]  # the convolutions
  assert len(shared) >= 10
  for key in shared:
    np.testing.assert_array_equal(readers[0].get_tensor(key), readers[1].get_tensor(key))
  # finalize builds z's tables from the run's own prior (it once restored the zoo's, deferred)
  z_codec = trainer.model.latent_codecs["z"]
  for variable in z_codec.trainable_variables:
    variable.assign(variable * 1.5)
  trainer.model.finalize()
  zoo_cdf = models.load("zoo:balle2018-mse-0.01").latent_codecs["z"].tables().cdf
  assert not np.array_equal(z_codec.tables().cdf.numpy(), zoo_cdf.numpy())
  with pytest.raises(ValueError, match="No zoo model 'nothing'"):
    tiny_config(tmp_path, init_from="zoo:nothing")


def test_sth_second_stage_freezes_the_encoder(tmp_path):
  config = tiny_config(tmp_path, ent_quant="sth", steps=12, sth_switch_fraction=0.5)
  trainer = train.Trainer(config, dataset_fn=repeat(fixed_batch()))
  trainer.config = tiny_config(tmp_path, ent_quant="sth", steps=6, sth_switch_fraction=0.5)
  trainer.fit(progress=False)
  encoder = [v.numpy() for v in trainer.model.encoder_variables]
  decoder = [v.numpy() for v in trainer.model.synthesis.trainable_variables]
  trainer.config = config
  trainer.fit(progress=False)
  for before, variable in zip(encoder, trainer.model.encoder_variables):
    np.testing.assert_array_equal(before, variable.numpy())
  assert any(not np.array_equal(b, v.numpy())
             for b, v in zip(decoder, trainer.model.synthesis.trainable_variables))


def test_nonfinite_steps_are_skipped_then_stop_without_saving_nan(tmp_path):
  config = tiny_config(tmp_path, max_nonfinite_steps=3, checkpoint_every=1)
  bad = fixed_batch().numpy()
  bad[0, 0, 0, 0] = np.nan
  trainer = train.Trainer(config, dataset_fn=repeat(bad))
  initial = [v.numpy() for v in trainer.model.trainable_variables]
  with pytest.raises(FloatingPointError, match="3 consecutive non-finite.*No checkpoint had"):
    trainer.fit(progress=False)
  assert trainer.step == 3  # skipped steps are counted, their updates are not applied
  for before, variable in zip(initial, trainer.model.trainable_variables):
    np.testing.assert_array_equal(before, variable.numpy())
  # Checkpoints wait for a good step: this run never had one.
  assert tf.train.latest_checkpoint(os.path.join(config.train_dir, "checkpoints")) is None


@pytest.mark.parametrize("arch,precision,lmbda_max", [
    ("balle2017", "float32", None), ("balle2018", "float32", None),
    ("balle2018", "mixed_bfloat16", None), ("balle2018", "float32", 0.05)])
def test_every_quantizer_trains_without_nan(arch, precision, lmbda_max):
  batch = fixed_batch()
  for name in quantizers.names():
    config = train.TrainConfig(arch=arch, ent_quant=name, steps=100, lmbda_max=lmbda_max,
                               **TINY)
    model = models.create(arch, precision, **config.model_options())
    optimizer = tf.keras.optimizers.Adam(1e-3)
    for step in range(3):  # eager: tracing would dominate the time of so few steps
      with tf.GradientTape() as tape:
        loss = model(batch, training=True, step=step)["loss"]
      assert np.isfinite(float(loss)), name
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, model.trainable_variables))
      if lmbda_max:  # every quantizer's bins follow the learned step
        (step_gradient,) = [g for g, v in zip(grads, model.trainable_variables)
                            if "log_step" in v.name]
        assert np.any(step_gradient.numpy() != 0), name
    assert all(np.all(np.isfinite(v.numpy())) for v in model.variables), name


def test_bad_configurations_are_refused_clearly(tmp_path):
  with pytest.raises(ValueError) as error:
    train.resolve_config(overrides=dict(ent_quant="rounding", strategy="magic", steps=0,
                                        train_dir=str(tmp_path)))
  message = str(error.value)
  for part in ("ent_quant", "rounding", "strategy", "steps", "train_glob"):
    assert part in message
  with pytest.raises(ValueError, match="Unknown configuration keys"):
    train.resolve_config(overrides=dict(stepz=3))


def test_float32_skips_a_nonfinite_step_without_a_loss_scale(tmp_path):
  config = tiny_config(tmp_path, checkpoint_every=2, steps=6)
  good = fixed_batch().numpy()
  bad = good.copy()
  bad[0, 0, 0, 0] = np.nan
  batches = [good, good, good, bad, good, good]  # step 4's update is skipped
  trainer = train.Trainer(config, dataset_fn=lambda context: tf.data.Dataset.from_tensor_slices(
      np.stack(batches)))
  assert not isinstance(trainer.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
  history = trainer.fit(progress=False)
  assert trainer.step == 6 and len(history) == 5
  checkpoints = os.path.join(config.train_dir, "checkpoints")
  # Step 4's checkpoint waited for the next good step.
  assert [int(p.rsplit("-", 1)[1]) for p in trainer.checkpoints.paths] == [2, 5, 6]
  assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-6")


def test_nonfinite_stop_names_the_last_good_checkpoint(tmp_path):
  config = tiny_config(tmp_path, max_nonfinite_steps=3, checkpoint_every=1, keep_checkpoints=1)
  good = fixed_batch().numpy()
  bad = good.copy()
  bad[0, 0, 0, 0] = np.nan
  trainer = train.Trainer(config, dataset_fn=lambda context: tf.data.Dataset.from_tensor_slices(
      np.stack([good, good] + [bad] * 5)))
  with pytest.raises(FloatingPointError) as raised:
    trainer.fit(progress=False)
  last_good = os.path.join(config.train_dir, "checkpoints", "ckpt-2")
  assert f"The last good checkpoint is {last_good}." in str(raised.value)
  assert tf.train.latest_checkpoint(os.path.dirname(last_good)) == last_good  # kept


def test_a_second_run_on_a_directory_is_refused(tmp_path):
  run = str(tmp_path / "run")
  with train.lock(run):
    refusal = f"in use by another training process \\(pid {os.getpid()}\\)"
    with pytest.raises(RuntimeError, match=refusal):
      with train.lock(run):
        pass
    process = run_train("--arch=balle2018", "--num_filters=8", "--latent_filters=12",
                        f"--train_glob={SAMPLES}", f"--train_dir={run}", "--steps=5")
    output, _ = process.communicate(timeout=300)
    assert process.returncode != 0
    assert output.strip().splitlines()[-1].startswith(f"error: {run} is in use")
    assert "Traceback" not in output
  with train.lock(run):  # released
    pass


def test_resume_says_which_settings_changed(tmp_path, caplog):
  train.write_config(tiny_config(tmp_path, lr=1e-3))
  with caplog.at_level("WARNING"):
    train.write_config(tiny_config(tmp_path, lr=5e-4, steps=60))
  assert "lr 0.001 → 0.0005" in caplog.text and "steps 30 → 60" in caplog.text
  with pytest.raises(ValueError, match="different \\['lmbda'\\]"):
    train.write_config(tiny_config(tmp_path, lmbda=0.5))


def test_changed_settings_take_effect_on_resume(tmp_path, caplog):
  train.train(tiny_config(tmp_path, steps=10, lr=1e-3), progress=False)
  with caplog.at_level("INFO", logger="absl"):  # another test may have set absl's level
    trainer = train.train(tiny_config(tmp_path, steps=14, lr=2e-4, batch_size=3,
                                      patch_size=80), progress=False)
  assert trainer.step == 14
  assert trainer.optimizer.learning_rate.numpy() == np.float32(2e-4)  # not the checkpoint's
  assert "crops start afresh (batch_size, patch_size changed)" in caplog.text
  assert next(trainer.iterator).shape == (3, 80, 80, 3)
  files = sorted((tmp_path / "run" / "train").iterdir())  # TensorBoard sees the new rate too
  rates = [tf.make_ndarray(v.tensor) for path in files
           for e in tf.compat.v1.train.summary_iterator(str(path))
           for v in e.summary.value if v.tag == "learning_rate"]
  assert np.isclose(rates[-1], 2e-4) and np.isclose(rates[0], 1e-3)
  trainer = train.train(tiny_config(tmp_path, steps=18, lr=2e-4, batch_size=3, patch_size=80,
                                    lr_decay_fraction=0.5), progress=False)
  assert trainer.step == 18  # a schedule's rate is the config's too: ×0.1 from step 9 on
  assert np.isclose(trainer.optimizer.learning_rate.numpy(), 2e-5)


def run_train(*args, **kwargs):
  return subprocess.Popen([sys.executable, os.path.join(REPO, "bin", "train"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)


def test_cli_refuses_bad_flags_before_any_work(tmp_path):
  process = run_train("--ent_quant=U-Q", "--dec_quant=nope", "--train_glob=x",
                      f"--train_dir={tmp_path / 'run'}")
  output, _ = process.communicate(timeout=120)
  assert process.returncode != 0
  assert "dec_quant" in output and "nope" in output and "Traceback" not in output
  assert not (tmp_path / "run").exists()


def test_sigkill_then_resume_continues(tmp_path):
  run = tmp_path / "run"
  args = ["--arch=balle2017", "--ent_quant=sga", "--num_filters=8", "--latent_filters=12",
          "--batch_size=2", "--patch_size=64", "--steps=400", "--checkpoint_every=5",
          "--keep_checkpoints=2", f"--train_glob={SAMPLES}", f"--train_dir={run}",
          "--progress=false", "--lr=1e-3"]
  process = run_train(*args)
  checkpoints = run / "checkpoints"
  deadline = time.time() + 240
  while tf.train.latest_checkpoint(str(checkpoints)) is None and time.time() < deadline:
    time.sleep(0.5)
  time.sleep(2)
  process.send_signal(signal.SIGKILL)
  process.wait()
  killed_at = tf.train.latest_checkpoint(str(checkpoints))
  assert killed_at is not None
  killed_step = int(killed_at.rsplit("-", 1)[1])
  assert killed_step < 400

  process = run_train(*args[:6], "--steps=" + str(killed_step + 10), *args[7:])
  output, _ = process.communicate(timeout=300)
  assert process.returncode == 0, output
  assert f"at step {killed_step}" in output  # resumed, not restarted
  final = tf.train.latest_checkpoint(str(checkpoints))
  assert final.endswith(f"ckpt-{killed_step + 10}")
  reader = tf.train.load_checkpoint(final)
  assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == killed_step + 10
  model = models.load(str(run))
  sga = model.quantizer_layers[0]
  # Schedule positions are fractions of the current total, so a longer run stretches them.
  assert sga.canonical == "sga" and sga.decay_start == round(0.997 * (killed_step + 10))


def test_ctrl_c_says_where_the_run_resumes(tmp_path):
  run = tmp_path / "run"
  process = run_train("--arch=balle2017", "--num_filters=8", "--batch_size=2",
                      "--patch_size=64", "--steps=100000", "--checkpoint_every=5",
                      f"--train_glob={SAMPLES}", f"--train_dir={run}", "--progress=false")
  deadline = time.time() + 240
  while tf.train.latest_checkpoint(str(run / "checkpoints")) is None and time.time() < deadline:
    time.sleep(0.5)
  process.send_signal(signal.SIGINT)
  output, _ = process.communicate(timeout=120)
  lines = output.strip().splitlines()
  assert process.returncode == 130 and "Traceback" not in output, output
  latest = os.path.basename(tf.train.latest_checkpoint(str(run / "checkpoints")))
  assert re.fullmatch(r"error: interrupted at step \d+; the same command resumes from " +
                      latest, lines[-1]), output


def free_port():
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def first_step(tmp_path, strategy, cpu_devices=1, workers=1):
  out = str(tmp_path / f"{strategy}.npz")
  script = os.path.join(REPO, "tests", "first_step.py")
  initial = str(tmp_path / "initial.npz")
  env = dict(os.environ, PYTHONPATH=REPO)
  if workers == 1:
    subprocess.run([sys.executable, script, strategy, str(cpu_devices), out, initial], check=True,
                   env=env, timeout=300)
  else:
    cluster = {"worker": [f"localhost:{free_port()}" for _ in range(workers)]}
    processes = [subprocess.Popen(
        [sys.executable, script, strategy, str(cpu_devices), out, initial],
        env=dict(env, TF_CONFIG=json.dumps({"cluster": cluster,
                                            "task": {"type": "worker", "index": i}})))
                 for i in range(workers)]
    for process in processes:
      assert process.wait(timeout=300) == 0
  with np.load(out) as arrays:
    return [arrays[k] for k in sorted(arrays.files, key=lambda k: int(k.split("_")[1]))]


def test_mirrored_and_multi_worker_match_single_device(tmp_path):
  single = first_step(tmp_path, "default")
  for gradients in (first_step(tmp_path, "mirrored", cpu_devices=2),
                    first_step(tmp_path, "multi_worker", workers=2)):
    assert len(gradients) == len(single)
    flat_single = np.concatenate([g.ravel() for g in single])
    flat = np.concatenate([g.ravel() for g in gradients])
    assert np.abs(flat_single).max() > 0
    np.testing.assert_allclose(flat, flat_single, rtol=1e-3,
                               atol=1e-5 * np.abs(flat_single).max())


def test_every_zoo_config_resolves():
  """Each zoo config in configs/ gives a valid run configuration as it stands (one may build
  on another, as zoo_balle2018_vr on zoo_balle2018)."""
  from tfquant.train import config as config_module
  names = [n for n in config_module.config_names() if n.startswith("zoo_")]
  assert {"zoo_balle2018", "zoo_balle2018_vr"} <= set(names)
  for name in names:
    assert train.resolve_config(name, {"train_dir": "unused"}).steps > 0, name
  variable_rate = train.resolve_config("zoo_balle2018_vr", {"train_dir": "unused"})
  assert (variable_rate.lmbda, variable_rate.lmbda_max, variable_rate.num_filters) == (
      0.00018, 0.05, 64)
