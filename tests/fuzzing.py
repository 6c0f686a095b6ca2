"""Damaged and forged `.tfq` files, and what decoding them gives.

Every case must end one of two ways: refused with `BitstreamError`, or decoded to exactly the
image the original file decodes to. Anything else (another image, another exception) is a
failure. The files are Ballé18's (fixed and variable rate, both coders) and Cheng20's (both
context modes: the mixture, the masked context and the serial decoding loop). `make stress`
runs the long form:

    python -m tests.fuzzing --cases=10000
"""

import argparse
import collections
import zlib

import numpy as np

from tfquant import coding
from tfquant.coding import container

KINDS = ("bit_flip", "substitution", "truncation", "appended", "random_bytes",
         "forged_strings", "forged_shape", "forged_string_bytes", "forged_checksum_only",
         "forged_rate")


def recheck(body):
  """`body` (a file without its CRC) with a valid container CRC: what anyone can forge."""
  return body + zlib.crc32(body).to_bytes(4, "big")


def mutate(data, kind, rng):
  """One damaged or forged version of the valid bitstream `data`."""
  data = bytearray(data)
  if kind == "bit_flip":
    position = rng.randint(len(data))
    data[position] ^= 1 << rng.randint(8)
    return bytes(data)
  if kind == "substitution":
    for position in rng.randint(0, len(data), rng.randint(1, 4)):
      data[position] = rng.randint(256)
    return bytes(data)
  if kind == "truncation":
    return bytes(data[:rng.randint(len(data))])
  if kind == "appended":
    return bytes(data) + bytes(rng.randint(0, 256, rng.randint(1, 16)).astype(np.uint8))
  if kind == "random_bytes":
    return container.MAGIC + bytes(rng.randint(0, 256, rng.randint(0, 200)).astype(np.uint8))
  parsed = container.unpack(bytes(data))
  strings = list(parsed.strings)
  if kind == "forged_strings":  # a string replaced by a constant or random bytes
    index = rng.randint(len(strings))
    length = max(1, len(strings[index]) + rng.randint(-3, 4))
    strings[index] = (bytes([rng.randint(256)]) * length if rng.rand() < 0.5 else
                      bytes(rng.randint(0, 256, length).astype(np.uint8)))
    return container.pack(_replace(parsed, strings=tuple(strings)))
  if kind == "forged_shape":  # another image shape, everything else kept
    height, width = parsed.image_shape
    shape = (max(1, height + rng.randint(-20, 21)), max(1, width + rng.randint(-20, 21)))
    return container.pack(_replace(parsed, image_shape=shape))
  if kind == "forged_string_bytes":  # a few bytes of one string changed
    index = rng.randint(len(strings))
    string = bytearray(strings[index])
    for position in rng.randint(0, len(string), rng.randint(1, 3)):
      string[position] = rng.randint(256)
    strings[index] = bytes(string)
    return container.pack(_replace(parsed, strings=tuple(strings)))
  if kind == "forged_checksum_only":  # the symbol checksum itself changed
    return container.pack(_replace(parsed, symbol_checksum=rng.randint(2**32, dtype=np.int64)))
  if kind == "forged_rate":  # another rate code (or one added to a fixed-rate file)
    return container.pack(_replace(parsed, rate_code=rng.randint(2**16)))
  raise ValueError(kind)


def _replace(bitstream, **changes):
  values = dict(vars(bitstream))
  values.update(changes)
  return container.Bitstream(**values)


def outcome(model, data, expected):
  """"refused", "exact", or what went wrong."""
  try:
    decoded = coding.decode(model, data)
  except coding.BitstreamError:
    return "refused"
  except Exception as error:  # pylint: disable=broad-except
    return f"crashed: {type(error).__name__}: {str(error).splitlines()[0][:120]}"
  return "exact" if np.array_equal(decoded, expected) else "wrong image"


def run(model, data, cases, seed=0, kinds=KINDS):
  """{kind: Counter of outcomes} over `cases` mutations spread evenly over `kinds`."""
  expected = coding.decode(model, data)
  rng = np.random.RandomState(seed)
  counts = collections.defaultdict(collections.Counter)
  for case in range(cases):
    kind = kinds[case % len(kinds)]
    counts[kind][outcome(model, mutate(data, kind, rng), expected)] += 1
  return counts


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--cases", type=int, default=10000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args()
  from tests.helpers import sample_image, trained
  fixed = trained("balle2018", "universal", "dsq")
  variable = trained("balle2018", "universal", "dsq", lmbda=(0.002, 0.05))
  context = {mode: trained("cheng2020", "sga", "sga", steps=40, context=mode)
             for mode in ("checkerboard", "serial")}
  small, larger = sample_image(48, 80), sample_image(96, 128)  # a tiny Cheng20 codes few bytes
  # (coder, model, λ of a variable-rate model, image, what it is, tenths of the cases)
  targets = [(coder, fixed, None, small, "", 3) for coder in coding.coders.NAMES] + [
      ("tfc", variable, 0.01, small, " (a variable-rate model at λ=0.01)", 2)] + [
      (coder, context[mode], None, larger, f" (Cheng20, {mode} context)", 1)
      for coder, mode in zip(coding.coders.NAMES, context)]
  failures = 0
  for coder, model, lmbda, image, what, tenths in targets:
    cases = args.cases * tenths // 10
    data = coding.encode(model, image, coder=coder, lmbda=lmbda)
    counts = run(model, data, cases, args.seed)
    print(f"coder {coder}: {cases} cases on a {len(data)}-byte file{what}")
    for kind in KINDS:
      print(f"  {kind:22s} " + ", ".join(f"{k} {v}" for k, v in sorted(counts[kind].items())))
      failures += sum(v for k, v in counts[kind].items() if k not in ("refused", "exact"))
  print(f"{failures} cases neither refused nor decoded exactly")
  raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
  main()
