"""The `.tfq` bitstream container: one coded image, self-describing and checked.

Layout (integers big-endian)::

    offset  size   field
    0       4      magic b"\\x89TFQ"
    4       1      format version (1)
    5       1      number of latent strings k (1..8)
    6       1      flags: bit 0 = y coded with U-Q's dither (seed below); others 0
    7       2      model identifier length L (≤ 1024)
    9       L      model identifier: ASCII "key=value;..." sorted by key, e.g.
                   arch=balle2018;lmbda=0.01;quant=universal/dsq;weights=<16 hex>
    9+L     4      image height, width (uint16 each, 1..65535)
    [13+L   8      dither seed: two uint32, only if flag bit 0]
    ...     10·k   per latent: height, width, channels (uint16), string length (uint32)
    ...            the k range-coded strings, in that order
    end−4   4      Adler-32 of every byte before it

The header costs about 110 bytes, so real bpp stays comparable with other codecs'.

Parsing trusts no length: every field is bounds-checked against the bytes actually present
before anything is allocated, and every failure raises `BitstreamError` with what was wrong.
"""

import dataclasses
import re
import struct
import zlib

MAGIC = b"\x89TFQ"
VERSION = 1
MAX_STRINGS = 8
MAX_MODEL_ID = 1024
MAX_SIDE = 65535
FLAG_DITHER = 1
_PREFIX = struct.Struct(">4sBBBH")
_IMAGE = struct.Struct(">HH")
_SEED = struct.Struct(">II")
_LATENT = struct.Struct(">HHHI")
_ID_TOKEN = re.compile(r"[A-Za-z0-9_.+/-]+")
_CHECKSUM = struct.Struct(">I")


class BitstreamError(ValueError):
  """A file is not a valid tfquant bitstream, or does not belong to this model."""


@dataclasses.dataclass(frozen=True)
class Latent:
  height: int
  width: int
  channels: int


@dataclasses.dataclass(frozen=True)
class Bitstream:
  model_id: dict  # str -> str once parsed
  image_shape: tuple
  latents: tuple  # of Latent, one per string
  strings: tuple  # of bytes
  dither_seed: tuple = None  # (uint32, uint32) when y was coded with U-Q's dither


def model_id_bytes(model_id):
  """The canonical encoding of a model identifier: "key=value;..." sorted by key."""
  items = [(str(k), str(v)) for k, v in sorted(model_id.items())]
  for token in (t for item in items for t in item):
    if not _ID_TOKEN.fullmatch(token):
      raise BitstreamError(f"Model identifier token {token!r} has characters outside "
                           "[A-Za-z0-9_.+/-].")
  return ";".join(f"{k}={v}" for k, v in items).encode("ascii")


def parse_model_id(raw):
  """Inverse of `model_id_bytes`; values stay strings."""
  try:
    items = [item.split("=") for item in raw.decode("ascii").split(";")]
  except UnicodeDecodeError:
    raise BitstreamError("Invalid model identifier (not ASCII).") from None
  if any(len(item) != 2 or not all(_ID_TOKEN.fullmatch(t) for t in item) for item in items):
    raise BitstreamError("Invalid model identifier.")
  return dict(items)


def pack(bitstream):
  """Serializes a `Bitstream` to bytes."""
  model_id = model_id_bytes(bitstream.model_id)
  strings = [bytes(s) for s in bitstream.strings]
  if not 1 <= len(strings) <= MAX_STRINGS or len(strings) != len(bitstream.latents):
    raise BitstreamError(f"Need 1..{MAX_STRINGS} strings, one per latent.")
  if len(model_id) > MAX_MODEL_ID:
    raise BitstreamError(f"Model identifier longer than {MAX_MODEL_ID} bytes.")
  height, width = (int(v) for v in bitstream.image_shape)
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
    raise BitstreamError(f"Image sides must be 1..{MAX_SIDE}, got {height}x{width}.")
  flags = 0 if bitstream.dither_seed is None else FLAG_DITHER
  parts = [_PREFIX.pack(MAGIC, VERSION, len(strings), flags, len(model_id)), model_id,
           _IMAGE.pack(height, width)]
  if flags & FLAG_DITHER:
    seed = tuple(int(v) for v in bitstream.dither_seed)
    if len(seed) != 2 or not all(0 <= v < 2**32 for v in seed):
      raise BitstreamError(f"A dither seed is two uint32 values, got {bitstream.dither_seed}.")
    parts.append(_SEED.pack(*seed))
  parts += [_LATENT.pack(l.height, l.width, l.channels, len(s))
            for l, s in zip(bitstream.latents, strings)]
  body = b"".join(parts + strings)
  return body + _CHECKSUM.pack(zlib.adler32(body))


def unpack(data):
  """Parses bytes written by `pack`. Raises `BitstreamError` for anything else."""
  data = bytes(data)
  if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
    raise BitstreamError("Not a tfquant bitstream (bad magic bytes).")
  if len(data) < _PREFIX.size + _CHECKSUM.size:
    raise BitstreamError(f"Truncated bitstream: {len(data)} bytes.")
  _, version, count, flags, id_length = _PREFIX.unpack_from(data)
  if version > VERSION:
    raise BitstreamError(f"Bitstream format version {version} is newer than this tfquant "
                         f"(reads up to {VERSION}); upgrade tfquant.")
  if version < 1:
    raise BitstreamError(f"Invalid format version {version}.")
  body, (checksum,) = data[:-_CHECKSUM.size], _CHECKSUM.unpack(data[-_CHECKSUM.size:])
  if zlib.adler32(body) != checksum:
    raise BitstreamError("Bitstream is corrupted or truncated (checksum mismatch).")
  if not 1 <= count <= MAX_STRINGS or id_length > MAX_MODEL_ID or flags & ~FLAG_DITHER:
    raise BitstreamError("Invalid header (string count, flags or identifier length).")
  reader = _Reader(body, _PREFIX.size)
  model_id = parse_model_id(reader.take(id_length))
  height, width = reader.unpack(_IMAGE)
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
    raise BitstreamError(f"Invalid image shape {height}x{width}.")
  dither_seed = reader.unpack(_SEED) if flags & FLAG_DITHER else None
  entries = [reader.unpack(_LATENT) for _ in range(count)]
  strings = tuple(reader.take(length) for *_, length in entries)
  if reader.remaining:
    raise BitstreamError(f"{reader.remaining} unexpected bytes after the last string.")
  latents = tuple(Latent(h, w, c) for h, w, c, _ in entries)
  return Bitstream(model_id, (height, width), latents, strings, dither_seed)


class _Reader:
  """Sequential reads that fail cleanly at the end of the data."""

  def __init__(self, data, position):
    self.data = data
    self.position = position

  @property
  def remaining(self):
    return len(self.data) - self.position

  def take(self, size):
    if size > self.remaining:
      raise BitstreamError(f"Truncated bitstream: needs {size} more bytes at offset "
                           f"{self.position}, has {self.remaining}.")
    chunk = self.data[self.position:self.position + size]
    self.position += size
    return chunk

  def unpack(self, layout):
    return layout.unpack(self.take(layout.size))
