"""CompressAI's side of `benchmarks.peers`, run by the peers' Python (torch, compressai; no
TensorFlow): one task, timed after one warm-up item, printed as one JSON line.

  python benchmarks/peers_compressai.py train STEPS
  python benchmarks/peers_compressai.py CODING_TASK IMAGE [IMAGE ...]

The models are CompressAI's own classes at the filters of `benchmarks.peers.TASKS`, untrained
(coding time doesn't depend on the weights), with their entropy tables updated as
`compressai.utils.update_model` does.
"""

import json
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")  # torch.jit's deprecation, said at compressai's import

import compressai  # pylint: disable=wrong-import-position
import numpy as np  # pylint: disable=wrong-import-position
import torch  # pylint: disable=wrong-import-position
import torch.nn.functional as F  # pylint: disable=wrong-import-position
from compressai import models  # pylint: disable=wrong-import-position
from PIL import Image  # pylint: disable=wrong-import-position

CODING = {
    "hyperprior": lambda: models.ScaleHyperprior(N=128, M=192),
    "serial_minnen2018": lambda: models.JointAutoregressiveHierarchicalPriors(N=192, M=320),
    "serial_cheng2020": lambda: models.Cheng2020Anchor(N=128),
    "checkerboard_cheng2020": lambda: models.Cheng2020AnchorCheckerboard(N=128),
}
BATCH, PATCH, LMBDA = 8, 256, 0.01


def image_tensor(path):
  array = np.asarray(Image.open(path).convert("RGB"), np.float32) / 255.0
  return torch.from_numpy(array).permute(2, 0, 1)[None]


def padded(x, multiple=64):
  height, width = x.shape[2:]
  return F.pad(x, (0, -width % multiple, 0, -height % multiple))


def timed(function, *args):
  start = time.perf_counter()
  out = function(*args)
  return out, time.perf_counter() - start


def coding(task, paths):
  net = CODING[task]().eval()
  net.update(force=True)
  encode, decode = [], []
  with torch.no_grad():
    for index, path in enumerate(paths):
      x = padded(image_tensor(path))
      out, encode_seconds = timed(net.compress, x)
      _, decode_seconds = timed(net.decompress, out["strings"], out["shape"])
      if index:  # the first is the warm-up
        encode.append(encode_seconds)
        decode.append(decode_seconds)
  return {"encode": encode, "decode": decode}


def training(steps):
  """CompressAI's example training step: the rate-distortion loss (λ·255²·MSE + bpp, the
  scale of ours) and the entropy bottleneck's auxiliary loss, each with its Adam."""
  torch.manual_seed(0)
  net = models.ScaleHyperprior(N=128, M=192).train()
  main = [p for n, p in net.named_parameters() if not n.endswith(".quantiles")]
  aux = [p for n, p in net.named_parameters() if n.endswith(".quantiles")]
  optimizer, aux_optimizer = torch.optim.Adam(main, 1e-4), torch.optim.Adam(aux, 1e-3)
  x = torch.from_numpy(np.random.RandomState(0).uniform(
      size=(BATCH, 3, PATCH, PATCH)).astype(np.float32))
  pixels = BATCH * PATCH * PATCH
  times = []
  for step in range(steps + 1):
    start = time.perf_counter()
    optimizer.zero_grad()
    aux_optimizer.zero_grad()
    out = net(x)
    bpp = sum(-torch.log2(likelihoods).sum() for likelihoods in out["likelihoods"].values())
    loss = bpp / pixels + LMBDA * 255 ** 2 * F.mse_loss(out["x_hat"], x)
    loss.backward()
    optimizer.step()
    net.aux_loss().backward()
    aux_optimizer.step()
    if step:  # the first is the warm-up
      times.append(time.perf_counter() - start)
  return {"step": times}


def main(argv):
  task = argv[1]
  result = training(int(argv[2])) if task == "train" else coding(task, argv[2:])
  result.update(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                versions=f"compressai {compressai.__version__}, torch {torch.__version__}")
  print(json.dumps(result))


if __name__ == "__main__":
  main(sys.argv)
