"""Every command given what a user gets wrong, as a user would type it.

Each case must end as the case says: a usage mistake with one `error:` line and status 2, a
bad path or value with one `error:` line and status 1, Ctrl-C with one line and status 130
(nothing half-written), a closed pipe quietly with status 0. Never a traceback, never a bad
value accepted. `make sweep` runs every case from the checkout (`bin/COMMAND`) and from a
wheel installed in a fresh virtualenv (`tfquant COMMAND`), outside the checkout:

    python -m tests.sweep [--installed]

`make test` runs a sample of the cases (tests/test_commands.py).
"""

import argparse
import collections
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# args: the command and its arguments; status: the expected exit status; says: what the
# output must contain; how: "run", "interrupt" (Ctrl-C once the command is under way) or
# "closed_pipe" (the reader goes away before the command writes).
Case = collections.namedtuple("Case", "args status says how", defaults=((), "run"))

INTERRUPT_AFTER = 12.0  # seconds: past TensorFlow's start-up, even four at a time
TIMEOUT = 300.0  # seconds: every case ends well before (a mistake is refused at once)


def fixtures(tmp):
  """Files the cases point at, made in `tmp`; returns their paths by name."""
  from tfquant import coding, data, models
  paths = {name: os.path.join(tmp, file) for name, file in dict(
      a_file="a_file", foreign="foreign.json", not_tfq="x.tfq", empty="empty.png",
      corrupt="corrupt.png", big="big.png", tfq="zoo.tfq", other_tfq="other.tfq",
      truncated="truncated.tfq", results="results.json", bad_grid="bad_grid.py",
      no_grid="no_grid.py", wrong_arch="wrong_arch.py", empty_dir="empty_dir",
      export="export").items()}
  texts = dict(a_file="x", foreign='{"rows": []}', not_tfq="not a tfq file", empty="",
               corrupt="\x89PNG\r\n\x1a\n broken", bad_grid="GRID = dict(",
               no_grid="X = 1\n",
               wrong_arch='GRID = dict(archs={"nope": {}}, lambdas=[0.01], out_dir="runs/x", '
               'pairs=[("noise", "noise")], train={})\n',
               results='{"name": "jpeg", "results": {"bpp": [0.5, 1.0], "psnr-rgb": [30, 33]}}')
  for name, text in texts.items():
    with open(paths[name], "w") as f:
      f.write(text)
  os.makedirs(paths["empty_dir"], exist_ok=True)
  os.makedirs(paths["export"], exist_ok=True)
  image = data.image_paths(data.sample_dir())[0]
  paths["image"] = image
  rng = np.random.default_rng(0)
  Image.fromarray(rng.integers(0, 256, (1536, 1536, 3), np.uint8)).save(paths["big"])
  zoo_model = models.load("zoo:balle2018-mse-0.01")
  payload = coding.encode(zoo_model, data.read_image(image)[:64, :64])
  with open(paths["tfq"], "wb") as f:
    f.write(payload)
  with open(paths["truncated"], "wb") as f:
    f.write(payload[:len(payload) // 2])
  model = models.create("balle2017", num_filters=8)
  model.finalize()
  with open(paths["other_tfq"], "wb") as f:
    f.write(coding.encode(model, data.read_image(image)[:32, :32]))
  return paths


def cases(tmp):
  """Every case, in a fixed order (the test suite samples it)."""
  from tfquant import data
  p = fixtures(tmp)
  samples = os.path.join(data.sample_dir(), "*.png")
  run, out = os.path.join(tmp, "run"), os.path.join(tmp, "out")
  unwritable = "/proc/tfquant-sweep"  # not even root writes there
  zoo_model = "--model=zoo:balle2018-mse-0.01"
  train_ok = [f"--train_glob={samples}", f"--train_dir={run}"]
  usage, fails = 2, 1

  train = [
      Case(["train", "--config=missing.py"], fails, ["missing.py"]),
      Case(["train", "--config=nonexistent_config"], fails, ["nonexistent_config"]),
      Case(["train", "--train_glob=nomatch/*.png", f"--train_dir={run}"], fails, ["nomatch"]),
      Case(["train", f"--train_glob={p['empty_dir']}", f"--train_dir={run}"], fails),
      Case(["train", f"--train_glob={p['a_file']}", f"--train_dir={run}"], fails),
      Case(["train", f"--train_glob={samples}", f"--train_dir={p['a_file']}/run"], fails),
      Case(["train", f"--train_glob={samples}", f"--train_dir={p['a_file']}"], fails),
      Case(["train", f"--train_glob={samples}", f"--train_dir={unwritable}"], fails),
      Case(["train", f"--train_glob={samples}"], fails, ["train_dir"]),
      Case(["train", "--arch=nope", *train_ok], fails, ["nope"]),
      Case(["train", "--ent_quant=nope", *train_ok], fails, ["nope"]),
      Case(["train", "--dec_quant=rounding", *train_ok], fails, ["rounding"]),
      Case(["train", "--z_ent_quant=nope", "--arch=balle2018", *train_ok], fails, ["nope"]),
      Case(["train", "--context=diagonal", "--arch=minnen2018", *train_ok], fails),
      Case(["train", "--context=serial", "--arch=balle2017", *train_ok], fails),
      Case(["train", "--distortion=psnr", *train_ok], fails, ["psnr"]),
      Case(["train", "--precision=float8", *train_ok], fails, ["float8"]),
      Case(["train", "--strategy=gpu", *train_ok], fails, ["gpu"]),
      Case(["train", "--steps=many", *train_ok], usage, ["steps"]),
      Case(["train", "--steps=0", *train_ok], fails, ["steps"]),
      Case(["train", "--steps=-5", *train_ok], fails, ["steps"]),
      Case(["train", "--batch_size=0", *train_ok], fails, ["batch_size"]),
      Case(["train", "--patch_size=7", *train_ok], fails, ["patch_size"]),
      Case(["train", "--lambda=-1", *train_ok], fails, ["lambda"]),
      Case(["train", "--lambda=nan", *train_ok], fails, ["lambda"]),
      Case(["train", "--lr=0", *train_ok], fails, ["lr"]),
      Case(["train", "--num_filters=0", *train_ok], fails, ["num_filters"]),
      Case(["train", "--checkpoint_every=0", *train_ok], fails, ["checkpoint_every"]),
      Case(["train", "--keep_checkpoints=0", *train_ok], fails, ["keep_checkpoints"]),
      Case(["train", "--lr_decay_fraction=1.5", *train_ok], fails, ["lr_decay_fraction"]),
      Case(["train", "--sth_switch_fraction=-1", *train_ok], fails, ["sth_switch_fraction"]),
      Case(["train", "--set=nokey=1", *train_ok], fails, ["nokey"]),
      Case(["train", "--set=garbage", *train_ok], usage, ["garbage"]),
      Case(["train", "--init_from=missing", *train_ok], fails, ["missing"]),
      Case(["train", "--init_from=zoo:nothing", *train_ok], fails, ["the zoo has"]),
      Case(["train", "--val_glob=nomatch/*.png", *train_ok], fails, ["nomatch"]),
      Case(["train", "--steps=5", "--steps=6", *train_ok], usage, ["more than once"]),
      Case(["train", "--lambda=0.01", "--lmbda=0.02", *train_ok], usage, ["more than once"]),
      Case(["train", "--nope=1", *train_ok], usage, ["nope"]),
      Case(["train", *train_ok, "extra"], usage, ["extra"]),
      Case(["train", "--arch=balle2017", "--num_filters=8", "--batch_size=2", "--patch_size=64",
            "--steps=100000", "--checkpoint_every=5", "--progress=false",
            f"--train_glob={samples}", f"--train_dir={run}-interrupted"], 130, ["interrupted"],
           "interrupt"),
  ]
  codec = [
      Case(["codec"], usage),
      Case(["codec", "squash", p["image"], out], usage, ["squash"]),
      Case(["codec", "compress", zoo_model, p["image"]], usage),
      Case(["codec", "compress", zoo_model, p["image"], out + ".tfq", "more"], usage),
      Case(["codec", "compress", zoo_model, "missing.png", out + ".tfq"], fails, ["missing.png"]),
      Case(["codec", "compress", zoo_model, p["empty_dir"], out + ".tfq"], fails),
      Case(["codec", "compress", zoo_model, p["a_file"], out + ".tfq"], fails),
      Case(["codec", "compress", zoo_model, p["empty"], out + ".tfq"], fails),
      Case(["codec", "compress", zoo_model, p["corrupt"], out + ".tfq"], fails),
      Case(["codec", "compress", zoo_model, p["image"], f"{tmp}/nodir/x.tfq"], fails, ["nodir"]),
      Case(["codec", "compress", zoo_model, p["image"], p["empty_dir"]], fails),
      Case(["codec", "compress", zoo_model, p["image"], f"{p['a_file']}/x.tfq"], fails),
      Case(["codec", "compress", zoo_model, p["image"], f"{unwritable}/x.tfq"], fails),
      Case(["codec", "compress", "--model=missing", p["image"], out + ".tfq"], fails),
      Case(["codec", "compress", f"--model={p['a_file']}", p["image"], out + ".tfq"], fails),
      Case(["codec", "compress", f"--model={p['empty_dir']}", p["image"], out + ".tfq"], fails),
      Case(["codec", "compress", "--model=zoo:nothing", p["image"], out + ".tfq"], fails,
           ["the zoo has"]),
      Case(["codec", "compress", p["image"], out + ".tfq"], usage, ["--model"]),
      Case(["codec", "compress", zoo_model, "--coder=zip", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--target_bpp=-1", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--target_bpp=0", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--target_bpp=abc", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--target_bpp=inf", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--bpp_strict", p["image"], out + ".tfq"], usage,
           ["--target_bpp"]),
      Case(["codec", "compress", zoo_model, "--max_pixels=0", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, zoo_model, p["image"], out + ".tfq"], usage,
           ["--target_bpp"]),
      Case(["codec", "compress", "--model=zoo:", "--target_bpp=0.5", p["big"], out + "-i.tfq"],
           130, ["interrupted"], "interrupt"),
      Case(["codec", "decompress", zoo_model, p["not_tfq"], out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, p["empty"], out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, p["truncated"], out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, p["tfq"], out + ".jpg"], usage, [".jpg"]),
      Case(["codec", "decompress", zoo_model, p["tfq"], f"{tmp}/nodir/y.png"], fails, ["nodir"]),
      Case(["codec", "decompress", zoo_model, p["tfq"], f"{unwritable}/y.png"], fails),
      Case(["codec", "decompress", zoo_model, "missing.tfq", out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, p["empty_dir"], out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, p["other_tfq"], out + ".png"], fails,
           ["another model"]),
      Case(["codec", "decompress", p["other_tfq"], out + ".png"], fails,
           ["no --model given and no zoo model wrote"]),
      Case(["codec", "decompress", zoo_model, "--max_pixels=100", p["tfq"], out + ".png"], fails),
      Case(["codec", "decompress", zoo_model, "--max_pixels=-1", p["tfq"], out + ".png"], usage),
      Case(["codec", "compress", zoo_model, "--refine=-1", p["image"], out + ".tfq"], usage),
      Case(["codec", "compress", zoo_model, "--refine=5", "--dither", p["image"], out + ".tfq"],
           usage, ["--dither"]),
      Case(["codec", "decompress", zoo_model, "--refine=5", p["tfq"], out + ".png"], usage,
           ["--refine"]),
      Case(["codec", "compress", zoo_model, "--refine_precision=float32", p["image"],
            out + ".tfq"], usage, ["--refine"]),
      Case(["codec", "info", p["not_tfq"]], fails),
      Case(["codec", "info", "missing.tfq"], fails),
      Case(["codec", "info", p["empty_dir"]], fails),
      Case(["codec", "info"], usage),
      Case(["codec", "info", p["tfq"], p["tfq"]], usage),
      Case(["codec", "info", p["tfq"]], 0, [], "closed_pipe"),
  ]
  evaluate = [
      Case(["evaluate"], usage),
      Case(["evaluate", f"--out={out}.json"], usage),
      Case(["evaluate", "--baseline=png", f"--out={out}.json"], usage),
      Case(["evaluate", "--baseline=jpeg", "--refine=5", f"--out={out}.json"], usage,
           ["--refine"]),
      Case(["evaluate", "--baseline=jpeg", "--refine_precision=float32", f"--out={out}.json"],
           usage, ["--refine"]),
      Case(["evaluate", "--baseline=jpeg", "--qualities=500", f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=-1", f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=abc", f"--out={out}.json"], usage),
      Case(["evaluate", "--baseline=jpeg", "--qualities=", f"--out={out}.json"], usage),
      Case(["evaluate", "--baseline=jpeg2000", "--qualities=0", f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--out={p['a_file']}/j.json"],
           fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--out={p['empty_dir']}"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--out={unwritable}/j.json"],
           fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", "--images=nomatch",
            f"--out={out}.json"], fails, ["nomatch"]),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--images={p['empty_dir']}",
            f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--images={p['a_file']}",
            f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", "--qualities=50", f"--reconstructions={p['a_file']}",
            f"--out={out}.json"], fails),
      Case(["evaluate", "--baseline=jpeg", zoo_model, f"--out={out}.json"], usage),
      Case(["evaluate", "--model=missing", f"--out={out}.json"], fails),
      Case(["evaluate", f"--model={p['a_file']}", f"--out={out}.json"], fails),
      Case(["evaluate", zoo_model, zoo_model, f"--out={out}.json"], usage, ["more than once"]),
      Case(["evaluate", "--model=zoo:", zoo_model, f"--out={out}.json"], usage,
           ["more than once"]),
      Case(["evaluate", "--model=zoo:nothing-*", f"--out={out}.json"], fails, ["the zoo has"]),
      Case(["evaluate", zoo_model, "--coder=zip", f"--out={out}.json"], usage),
      Case(["evaluate", zoo_model, f"--out={out}.json", "extra"], usage),
      Case(["evaluate", f"--plot={out}.png", p["foreign"]], fails),
      Case(["evaluate", f"--plot={out}.png", "missing.json"], fails, ["missing.json"]),
      Case(["evaluate", f"--plot={out}.png"], usage),
      Case(["evaluate", f"--plot={out}.txt", p["results"]], usage),
      Case(["evaluate", f"--plot={p['a_file']}/rd.png", p["results"]], fails),
      Case(["evaluate", f"--plot={out}.png", p["not_tfq"]], fails),
      Case(["evaluate", "--model=zoo:", f"--images={data.sample_dir()}", f"--out={out}-i.json"],
           130, ["interrupted"], "interrupt"),
      Case(["evaluate", "--help"], 0, [], "closed_pipe"),
  ]
  compare = [
      Case(["compare"], usage),
      Case(["compare", "--config=missing.py"], fails, ["missing.py"]),
      Case(["compare", "--config=grid_nothing"], fails, ["grid_nothing"]),
      Case(["compare", f"--config={p['bad_grid']}"], fails),
      Case(["compare", f"--config={p['no_grid']}"], fails, ["GRID"]),
      Case(["compare", f"--config={p['wrong_arch']}", f"--out={out}-c"], fails, ["nope"]),
      Case(["compare", f"--config={p['a_file']}"], fails),
      Case(["compare", "--config=grid_smoke", "--jobs=0", f"--out={out}-c"], usage),
      Case(["compare", "--config=grid_smoke", "--jobs=x", f"--out={out}-c"], usage),
      Case(["compare", "--config=grid_smoke", f"--out={p['a_file']}"], fails),
      Case(["compare", "--config=grid_smoke", f"--out={unwritable}"], fails),
      Case(["compare", "--config=grid_smoke", "--out=a", "--out_dir=b"], usage,
           ["more than once"]),
      Case(["compare", "--config=grid_smoke", "extra"], usage),
      Case(["compare", "--config=grid_smoke", "--print_jobs"], 0, [], "closed_pipe"),
      Case(["compare", "--config=grid_smoke", f"--out={out}-interrupted"], 130, ["interrupted"],
           "interrupt"),
  ]
  export = [
      Case(["export"], usage),
      Case(["export", f"--export_dir={out}-e"], usage, ["--model"]),
      Case(["export", zoo_model], usage, ["--export_dir"]),
      Case(["export", "--model=missing", f"--export_dir={out}-e"], fails),
      Case(["export", f"--model={p['a_file']}", f"--export_dir={out}-e"], fails),
      Case(["export", f"--model={p['empty_dir']}", f"--export_dir={out}-e"], fails),
      Case(["export", zoo_model, f"--export_dir={p['a_file']}"], fails),
      Case(["export", zoo_model, f"--export_dir={p['a_file']}/x"], fails),
      Case(["export", zoo_model, f"--export_dir={unwritable}"], fails),
      Case(["export", zoo_model, "--coder=zip", f"--export_dir={out}-e"], usage),
      Case(["export", zoo_model, "--version=0", f"--export_dir={out}-e"], usage),
      Case(["export", zoo_model, "--version=abc", f"--export_dir={out}-e"], usage),
      Case(["export", zoo_model, "--model_name=a/b", f"--export_dir={out}-e"], usage),
      Case(["export", zoo_model, "--model_name=", f"--export_dir={out}-e"], usage),
      Case(["export", zoo_model, "--out=a", "--export_dir=b"], usage, ["more than once"]),
      Case(["export", zoo_model, f"--export_dir={out}-e", "extra"], usage),
  ]
  serve_local = [
      Case(["serve-local"], usage),
      Case(["serve-local", "--export_dir=missing"], fails),
      Case(["serve-local", f"--export_dir={p['a_file']}"], fails),
      Case(["serve-local", f"--export_dir={p['empty_dir']}"], fails),
      Case(["serve-local", f"--export_dir={p['export']}", "--port=abc"], usage),
      Case(["serve-local", f"--export_dir={p['export']}", "--port=70000"], usage),
      Case(["serve-local", f"--export_dir={p['export']}", "--rest_api_port=-1"], usage),
      Case(["serve-local", f"--export_dir={p['export']}", "--port=8600", "--grpc_port=8601"],
           usage, ["more than once"]),
      Case(["serve-local", f"--export_dir={p['export']}", "extra"], usage),
  ]
  serve_client = [
      Case(["serve-client"], usage),
      Case(["serve-client", "--protocol=ftp", "compress", p["image"], out + ".tfq"], usage),
      Case(["serve-client", "--server=localhost:9", "compress", p["image"], out + ".tfq"], fails),
      Case(["serve-client", "--protocol=rest", "--server=http://localhost:9", "decompress",
            p["tfq"], out + ".png"], fails),
      Case(["serve-client", "--protocol=rest", "--server=localhost:9", "decompress",
            p["not_tfq"], out + ".png"], fails),
      Case(["serve-client", "--timeout=-1", "compress", p["image"], out + ".tfq"], usage),
      Case(["serve-client", "--timeout=abc", "compress", p["image"], out + ".tfq"], usage),
      Case(["serve-client", "squash", p["image"], out + ".tfq"], usage),
      Case(["serve-client", "compress", "missing.png", out + ".tfq"], fails, ["missing.png"]),
      Case(["serve-client", "compress", p["image"]], usage),
      Case(["serve-client", "decompress", "missing.tfq", out + ".png"], fails),
  ]
  zoo = [
      Case(["zoo", "balle2018"], usage),
      Case(["zoo", "--json=maybe"], usage),
      Case(["zoo", "--nope"], usage),
      Case(["zoo", "--history", "--reference=nope"], usage, ["--reference='nope'"]),
      Case(["zoo"], 0, [], "closed_pipe"),
  ]
  make_zoo = [
      Case(["make-zoo"], usage),
      Case(["make-zoo", "--config=missing.py", f"--work_dir={out}-z"], fails),
      Case(["make-zoo", "--config=zoo_balle2018"], usage, ["work_dir"]),
      Case(["make-zoo", "--config=zoo_balle2018", f"--work_dir={p['a_file']}"], fails),
      Case(["make-zoo", "--config=zoo_balle2018", f"--work_dir={unwritable}"], fails),
      Case(["make-zoo", "--config=zoo_balle2018", "--only=0.5", f"--work_dir={out}-z"], fails,
           ["0.5"]),
      Case(["make-zoo", "--config=zoo_balle2018", "--only=abc", f"--work_dir={out}-z"], usage),
      Case(["make-zoo", "--config=zoo_balle2018", f"--work_dir={out}-z", "extra"], usage),
      Case(["make-zoo", "--continue=cheng2020", "--only=0.5", f"--work_dir={out}-z"], fails,
           ["0.5", "0.003"]),
      Case(["make-zoo", "--continue=balle2018-vr-span-mse", "--only=0.01",
            f"--work_dir={out}-z"], fails, ["variable-rate"]),
      Case(["make-zoo", "--continue=cheng2020", "--only=x", f"--work_dir={out}-z"], usage),
      Case(["make-zoo", "--continue=cheng2020", f"--after={out}-none", f"--work_dir={out}-z"],
           fails, ["no finished --continue run"]),
      Case(["make-zoo", "--config=zoo_balle2018", f"--after={out}-z", f"--work_dir={out}-z"],
           usage, ["--continue"]),
  ]
  everything = [
      Case([], usage, ["choose from"]),
      Case(["squash"], usage, ["squash"]),
      Case(["--nope"], usage),
      Case(["--help"], 0, [], "closed_pipe"),
  ]
  return (train + codec + evaluate + compare + export + serve_local + serve_client + zoo +
          make_zoo + [Case(["tfquant", *c.args], *c[1:]) for c in everything])


def command_line(case, installed):
  """The process to start: `bin/COMMAND` in the checkout, `tfquant COMMAND` installed; cases
  for `tfquant` itself (args[0] == "tfquant") run `python -m tfquant` in the checkout."""
  if installed:
    return [os.path.join(installed, "tfquant"), *case.args[case.args[:1] == ["tfquant"]:]]
  if case.args[:1] == ["tfquant"]:
    return [sys.executable, "-m", "tfquant", *case.args[1:]]
  return [sys.executable, os.path.join(REPO, "bin", case.args[0]), *case.args[1:]]


def start(case, installed, cwd):
  env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}  # a user's shell
  if installed:
    env.pop("PYTHONPATH", None)
  process = subprocess.Popen(command_line(case, installed), cwd=cwd, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  if case.how == "closed_pipe":
    process.stdout.close()  # as `| head` that stopped reading
  return process, time.time()


def finish(case, process, started):
  """What went wrong (a string), or None."""
  if case.how == "interrupt":
    while process.poll() is None and time.time() < started + INTERRUPT_AFTER:
      time.sleep(0.2)
    if process.poll() is not None:
      return f"ended (status {process.returncode}) before Ctrl-C"
    process.send_signal(signal.SIGINT)
  if case.how == "closed_pipe":
    errors = process.stderr.read()
    process.wait(timeout=TIMEOUT)
    if process.returncode != 0 or errors:
      return f"status {process.returncode}: {errors[-800:]}"
    return None
  try:
    output, errors = process.communicate(timeout=TIMEOUT)
  except subprocess.TimeoutExpired:
    process.kill()
    process.communicate()
    return f"still running after {TIMEOUT:.0f} s"
  everything = output + errors
  lines = [line for line in errors.strip().splitlines() if line.strip()]
  problems = []
  if process.returncode != case.status:
    problems.append(f"status {process.returncode}, not {case.status}")
  if "Traceback" in everything:
    problems.append("a traceback")
  if case.status != 0:
    if len(lines) != 1 or not lines[0].startswith("error: "):
      problems.append("not one error: line")
    if ".tmp-" in everything or "File exists" in everything or "[Errno" in everything:
      problems.append("a raw message")
  missing = [part for part in case.says if part not in everything]
  if missing:
    problems.append(f"does not say {missing}")
  return f"{'; '.join(problems)}: {everything[-800:]}" if problems else None


def sweep(all_cases, installed=None, cwd=None, parallel=4, report=None):
  """Runs `all_cases` `parallel` at a time; returns [(case, problem)] for those that failed,
  each also given to `report` as it is found."""
  failures = []
  for begin in range(0, len(all_cases), parallel):
    batch = all_cases[begin:begin + parallel]
    running = [(case, *start(case, installed, cwd)) for case in batch]
    for case, process, started in running:
      problem = finish(case, process, started)
      if problem:
        failures.append((case, problem))
        if report:
          report(case, problem)
  return failures


def _print_failure(case, problem):
  print(f"FAILED {' '.join(case.args)}\n  {problem}\n", flush=True)


def install_wheel(tmp):
  """A wheel of the checkout installed into a fresh virtualenv in `tmp` (its dependencies from
  this environment's site-packages, through a path file: nothing is downloaded); returns the
  virtualenv's bin folder."""
  dist, venv = os.path.join(tmp, "dist"), os.path.join(tmp, "venv")
  subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--no-build-isolation", "--wheel-dir", dist, REPO],
                 check=True, timeout=600, capture_output=True)
  subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
  python = os.path.join(venv, "bin", "python")
  site = subprocess.run([python, "-c", "import site; print(site.getsitepackages()[0])"],
                        check=True, capture_output=True, text=True).stdout.strip()
  here = next(p for p in sys.path if p.endswith("site-packages"))
  with open(os.path.join(site, "dependencies.pth"), "w") as f:
    f.write(here + "\n")
  wheel = next(os.path.join(dist, f) for f in os.listdir(dist) if f.endswith(".whl"))
  subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--quiet",
                  "--no-deps", wheel], check=True, timeout=600, capture_output=True)
  return os.path.join(venv, "bin")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--installed", action="store_true",
                      help="run from a wheel installed in a fresh virtualenv, outside the checkout")
  args = parser.parse_args()
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # this process's; the commands get a shell's
  with tempfile.TemporaryDirectory() as tmp:
    all_cases = cases(tmp)
    installed = install_wheel(os.path.join(tmp, "wheel")) if args.installed else None
    cwd = os.path.join(tmp, "elsewhere")
    os.makedirs(cwd)
    begin = time.time()
    failures = sweep(all_cases, installed, cwd, report=_print_failure)
  mode = "installed wheel" if args.installed else "checkout"
  print(f"{len(all_cases) - len(failures)} of {len(all_cases)} invocations as expected "
        f"({mode}, {time.time() - begin:.0f} s)")
  sys.exit(1 if failures else 0)


if __name__ == "__main__":
  main()
