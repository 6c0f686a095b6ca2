"""A wider model that starts where a narrower one of its architecture stands.

Net2Net's function-preserving widening (Chen, Goodfellow, Shlens, ICLR 2016), with zeros
where Net2Net splits units::

    old inputs ──► old outputs    the narrow model's weights
    old inputs ──► new outputs    the wide model's own initial weights: new features
    new inputs ──► old outputs    zero: old channels compute what they did
    new inputs ──► new outputs    initial weights

Latent channels are the exceptions. New channels of y and z, and the σ that codes y's new
channels, start at zero: y's round to 0 under σ at its floor and z's under a density narrowed
around 0, so they cost next to nothing. The synthesis's weights from y's new channels, which
are 0 outside training, keep their initial values: the pixels stay exact, and the new channels
get a gradient under any decoder quantizer (z's grow through the noise of its quantizer). The
new channels of a variable-rate model's step table take the mean of the old ones. So the wide
model starts with the narrow one's pixels and its bits, and training grows the new channels: a
wider model continues a narrower one's training rather than starting over.

For the scale-only architectures (Ballé17, Ballé18): a mean-scale hyperprior stacks μ and σ on
its output channels and a context model predicts across them, where new channels would not be
a block of their own.
"""

import numpy as np
import tensorflow as tf
import tensorflow_compression as tfc
import tensorflow_probability as tfp

from tfquant import models
from tfquant.latent_codecs import FactorizedCodec
from tfquant.models import layers, variable_rate

ARCHS = ("balle2017", "balle2018")


def _roles(model):
  """{id(layer): role} of the layers that touch latents: "latent output" (y, z and y's scale:
  their new outputs start at zero) and "latent input" (the synthesis's first layer)."""
  entropy = getattr(model, "entropy", None)
  outputs = [model.analysis] + [getattr(entropy, name) for name in ("hyper_analysis",
                                "hyper_synthesis") if hasattr(entropy, name)]
  roles = {id(sequence.layers[-1]): "latent output" for sequence in outputs}
  roles[id(model.synthesis.layers[0])] = "latent input"
  return roles


def _old(shape):
  return tuple(slice(0, n) for n in shape)


def _kernel(old, new, axes, role):
  """A convolution's kernel (or its RDFT parameter, linear in it) with `axes` (in, out)."""
  in_axis, out_axis = axes
  value = new.copy()
  value[_old(old.shape)] = old
  if role != "latent input":
    new_in = [slice(None)] * value.ndim
    new_in[in_axis] = slice(old.shape[in_axis], None)
    new_in[out_axis] = slice(0, old.shape[out_axis])
    value[tuple(new_in)] = 0.0
  if role == "latent output":
    new_out = [slice(None)] * value.ndim
    new_out[out_axis] = slice(old.shape[out_axis], None)
    value[tuple(new_out)] = 0.0
  return value


def _zero_density(codec, width=0.1):
  """A new channel's factorized density for a latent that is 0, by variable of the density's
  network: the narrowest old channel's, narrowed to `width` around 0, so that 0 costs next to
  no bits. Its cdf(x) is the old cdf(m + k·x), m the old channel's median (the new median,
  and so the coding offset, is 0) and k the width of its central 98% over `width`: the
  network's first layer scaled by k and shifted."""
  base = codec.prior.base
  low, high = (np.asarray(tail(codec.prior, 0.02)) for tail in (tfc.lower_tail, tfc.upper_tail))
  channel = int(np.argmin(high - low))
  k = max(1.0, float(high[channel] - low[channel]) / width)
  first = tf.nn.softplus(base._matrices[0][channel]).numpy()  # pylint: disable=protected-access
  density = {}
  for group in ("_matrices", "_biases", "_factors"):
    for i, variable in enumerate(getattr(base, group)):
      density[f"{group}/{i}"] = variable[channel].numpy()
  density["_matrices/0"] = tfp.math.softplus_inverse(k * first).numpy()
  median = float(tfc.lower_tail(codec.prior, 1.0)[channel])  # where the cdf's logit is 0
  density["_biases/0"] = density["_biases/0"] + first * median
  return density


def _widened(path, old, new, owner, role, density):
  """`new`'s value with `old`'s in its old block, by what the variable is (see the module)."""
  if isinstance(owner, tfc.RDFTParameter):
    return _kernel(old, new, (0, 1), role)
  if isinstance(owner, layers.SignalConv2D) and path.endswith("_kernel_parameter"):
    return _kernel(old, new, (2, 3), role)
  value = new.copy()
  value[_old(old.shape)] = old
  if isinstance(owner, layers.SignalConv2D) and path.endswith("_bias_parameter"):
    if role == "latent output":
      value[old.shape[0]:] = 0.0
    return value
  if isinstance(owner, tfc.GDNParameter):
    return value  # β: new channels' own; γ: what is off the old block is off the diagonal, 0
  if isinstance(owner, (variable_rate.QuantizationStep, variable_rate.ChannelGain)):
    value[:, old.shape[1]:] = old.mean(axis=1, keepdims=True)
    return value
  key = "/".join(path.split("/")[-2:])
  if density is not None and key in density:
    value[old.shape[0]:] = density[key]
    return value
  raise ValueError(f"cannot widen {path} from {list(old.shape)} to {list(new.shape)}")


def widen_into(source, target):
  """Assigns `target`, a model of `source`'s architecture with at least its filters, the
  widened weights of `source` (see the module); returns how many variables were assigned."""
  if source.arch not in ARCHS:
    raise ValueError(f"widening is for {', '.join(ARCHS)} models, not {source.arch}")
  roles = _roles(target)
  codecs = [[layer for layer in model.submodules if isinstance(layer, FactorizedCodec)]
            for model in (target, source)]
  densities = {id(mine.prior): _zero_density(theirs) for mine, theirs in zip(*codecs)}

  def resize(path, old, variable, parents):
    if old.ndim != variable.shape.rank or any(o > n for o, n in zip(old.shape, variable.shape)):
      raise ValueError(f"{path} is {list(old.shape)} in the source, "
                       f"{variable.shape.as_list()} here: not a widening")
    layer = next(p for p in reversed(parents) if isinstance(p, tf.keras.layers.Layer))
    density = next((densities[id(p)] for p in parents if id(p) in densities), None)
    return _widened(path, old, variable.numpy(), parents[-1], roles.get(id(layer)), density)

  return models.copy_shared_variables(source, target, resize=resize)
