"""The `.tfq` bitstream container, format version 3 (4 with a rate code): one coded image in
~30 bytes of header.

Layout (fixed-width integers big-endian; varint = LEB128, 7 bits a byte, low group first)::

    size   field
    4      magic b"\\x89TFQ"
    1      format version (3; 4 when the file has a rate code; version 2 files, which lack
           the side check, are read too)
    1      flags: bit 0 y coded with U-Q's dither (seed below); bit 1 the coder
           (0 tensorflow-compression's range coder, 1 tfquant's pure-TF rANS); bit 2 a
           rate code follows (a variable-rate model's λ, version 4 on); bit 3
           the tables were chosen by integer entropy parameters (decodable on any
           machine; 0: by the float networks, which only the writer's kind of machine
           reproduces for sure); bits 4–7 the number of strings k (1..8)
    8      model fingerprint: the first 8 bytes of SHA-256 of the model identifier
    var    image height, then width (1..65535 each)
    [8     dither seed: two uint32, only with flag bit 0]
    [2     rate code, only with flag bit 2: the λ a variable-rate model coded at, as its
           place in the model's λ range (`models.variable_rate`)]
    var    length of each of the k strings
    4      CRC-32 of the image height and width and the coded symbols (int32 little-endian,
           every latent in string order): the decoder recomputes it over what it decoded
    [2     side check, only with k ≥ 2: the low 16 bits of the same CRC over the height,
           width and the symbols of strings 2..k (the side information, e.g. z). The
           decoder checks it before decoding the first string: a forged image shape or
           damaged side string is refused before the costly part]
    ...    the k strings
    4      CRC-32 of every byte before it

With two strings of under 2 MB and no dither, the overhead (file size minus the strings) is
at most 33 bytes. The latents' shapes are not stored: the model derives them from the image's.

Parsing trusts no length: every field is bounds-checked against the bytes actually present
before anything is allocated, and every failure raises `BitstreamError` naming what was wrong.
Version 1 files (tfquant before the v2 container) are refused with a message that says so.
"""

import dataclasses
import hashlib
import re
import struct
import zlib

MAGIC = b"\x89TFQ"
VERSION = 3
RATE_VERSION = 4  # written only with a rate code: older tfquant refuse it as too new
OLDEST_VERSION = 2
MAX_STRINGS = 8
MAX_SIDE = 65535
FINGERPRINT_BYTES = 8
FLAG_DITHER = 1
CODER_SHIFT, CODER_MASK = 1, 0b1
FLAG_RATE = 0b100
FLAG_INTEGER = 0b1000
COUNT_SHIFT = 4
MAX_VARINT_BYTES = 5  # 35 bits: a string of up to 32 GiB
_HEAD = struct.Struct(">4sBB")
_SEED = struct.Struct(">II")
_RATE_CODE = struct.Struct(">H")
RATE_CODE_BYTES = _RATE_CODE.size
_CHECKSUM = struct.Struct(">I")
_SIDE_INFO_CHECK = struct.Struct(">H")
SIDE_INFO_MASK = 0xFFFF
_ID_TOKEN = re.compile(r"[A-Za-z0-9_.+/-]+")
CODERS = ("tfc", "tf")  # the entropy coders by their id in a file's flags; the first: default


class BitstreamError(ValueError):
  """A file is not a valid tfquant bitstream, or does not belong to this model."""


@dataclasses.dataclass(frozen=True)
class Bitstream:
  fingerprint: bytes  # FINGERPRINT_BYTES of the model identifier's hash
  image_shape: tuple
  strings: tuple  # of bytes
  symbol_checksum: int  # CRC-32 of the coded symbols
  coder: str = CODERS[0]
  dither_seed: tuple = None  # (uint32, uint32) when y was coded with U-Q's dither
  side_info_checksum: int = None  # 16-bit check of strings 2..k; None: one string, or v2
  integer: bool = False  # tables chosen by integer entropy parameters
  rate_code: int = None  # uint16: a variable-rate model's λ


def model_id_bytes(model_id):
  """The canonical encoding of a model identifier: "key=value;..." sorted by key."""
  items = [(str(k), str(v)) for k, v in sorted(model_id.items())]
  for token in (t for item in items for t in item):
    if not _ID_TOKEN.fullmatch(token):
      raise BitstreamError(f"Model identifier token {token!r} has characters outside "
                           "[A-Za-z0-9_.+/-].")
  return ";".join(f"{k}={v}" for k, v in items).encode("ascii")


def fingerprint(model_id):
  """The 8 bytes that stand for a model identifier in a bitstream."""
  return hashlib.sha256(model_id_bytes(model_id)).digest()[:FINGERPRINT_BYTES]


def varint(value):
  value = int(value)
  out = bytearray()
  while True:
    group, value = value & 127, value >> 7
    out.append(group | (128 if value else 0))
    if not value:
      return bytes(out)


def side_info_bytes(num_strings, version=VERSION):
  """Bytes of the side-information check: present from version 3, with side strings."""
  return _SIDE_INFO_CHECK.size if version >= 3 and num_strings > 1 else 0


def flags_byte(coder, num_strings, dithered, integer, rate=False):
  if coder not in CODERS:
    raise BitstreamError(f"Unknown coder {coder!r}; one of {CODERS}.")
  return (FLAG_DITHER if dithered else 0) | (CODERS.index(coder) << CODER_SHIFT) | (
      FLAG_RATE if rate else 0) | (FLAG_INTEGER if integer else 0) | (
          num_strings << COUNT_SHIFT)


def pack(bitstream):
  """Serializes a `Bitstream` to bytes."""
  strings = [bytes(s) for s in bitstream.strings]
  if not 1 <= len(strings) <= MAX_STRINGS:
    raise BitstreamError(f"Need 1..{MAX_STRINGS} strings, got {len(strings)}.")
  if len(bitstream.fingerprint) != FINGERPRINT_BYTES:
    raise BitstreamError(f"A model fingerprint is {FINGERPRINT_BYTES} bytes.")
  height, width = (int(v) for v in bitstream.image_shape)
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
    raise BitstreamError(f"Image sides must be 1..{MAX_SIDE}, got {height}x{width}.")
  dithered, rated = bitstream.dither_seed is not None, bitstream.rate_code is not None
  flags = flags_byte(bitstream.coder, len(strings), dithered, bitstream.integer, rated)
  parts = [_HEAD.pack(MAGIC, RATE_VERSION if rated else VERSION, flags),
           bitstream.fingerprint, varint(height), varint(width)]
  if dithered:
    seed = tuple(int(v) for v in bitstream.dither_seed)
    if len(seed) != 2 or not all(0 <= v < 2**32 for v in seed):
      raise BitstreamError(f"A dither seed is two uint32 values, got {bitstream.dither_seed}.")
    parts.append(_SEED.pack(*seed))
  if rated:
    if not 0 <= int(bitstream.rate_code) < 2**16:
      raise BitstreamError(f"A rate code is a uint16, got {bitstream.rate_code}.")
    parts.append(_RATE_CODE.pack(int(bitstream.rate_code)))
  parts += [varint(len(s)) for s in strings]
  parts.append(_CHECKSUM.pack(int(bitstream.symbol_checksum) & 0xFFFFFFFF))
  if side_info_bytes(len(strings)):
    if bitstream.side_info_checksum is None:
      raise BitstreamError("A bitstream with side strings needs their side check.")
    parts.append(_SIDE_INFO_CHECK.pack(int(bitstream.side_info_checksum) & SIDE_INFO_MASK))
  body = b"".join(parts + strings)
  return body + _CHECKSUM.pack(zlib.crc32(body))


def unpack(data):
  """Parses bytes written by `pack`. Raises `BitstreamError` for anything else."""
  data = bytes(data)
  if len(data) < len(MAGIC) or data[:len(MAGIC)] != MAGIC:
    raise BitstreamError("Not a tfquant bitstream (bad magic bytes).")
  if len(data) < _HEAD.size:
    raise BitstreamError(f"Truncated bitstream: {len(data)} bytes.")
  _, version, flags = _HEAD.unpack_from(data)
  if version > RATE_VERSION:
    raise BitstreamError(f"Bitstream format version {version} is newer than this tfquant "
                         f"(reads version {RATE_VERSION}); upgrade tfquant.")
  if version < OLDEST_VERSION:
    raise BitstreamError(f"Bitstream format version {version} (tfquant before the "
                         f"v{OLDEST_VERSION} container) is no longer read; re-encode the image "
                         "with this tfquant.")
  if len(data) < _HEAD.size + FINGERPRINT_BYTES + _CHECKSUM.size:
    raise BitstreamError(f"Truncated bitstream: {len(data)} bytes.")
  body, (checksum,) = data[:-_CHECKSUM.size], _CHECKSUM.unpack(data[-_CHECKSUM.size:])
  if zlib.crc32(body) != checksum:
    raise BitstreamError("Bitstream is corrupted or truncated (CRC-32 mismatch).")
  count, coder_id = flags >> COUNT_SHIFT, (flags >> CODER_SHIFT) & CODER_MASK
  if not 1 <= count <= MAX_STRINGS:
    raise BitstreamError("Invalid header flags (string count).")
  if bool(flags & FLAG_RATE) != (version == RATE_VERSION):
    raise BitstreamError(f"Invalid header: version {version} "
                         f"{'without' if flags & FLAG_RATE else 'with'} a rate code flag.")
  reader = _Reader(body, _HEAD.size)
  model_fingerprint = reader.take(FINGERPRINT_BYTES)
  height, width = reader.varint(), reader.varint()
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
    raise BitstreamError(f"Invalid image shape {height}x{width}.")
  dither_seed = reader.unpack(_SEED) if flags & FLAG_DITHER else None
  rate_code = reader.unpack(_RATE_CODE)[0] if flags & FLAG_RATE else None
  lengths = [reader.varint() for _ in range(count)]
  (symbol_checksum,) = reader.unpack(_CHECKSUM)
  side_info_checksum = (reader.unpack(_SIDE_INFO_CHECK)[0] if side_info_bytes(count, version)
                        else None)
  strings = tuple(reader.take(length) for length in lengths)
  if reader.remaining:
    raise BitstreamError(f"{reader.remaining} unexpected bytes after the last string.")
  return Bitstream(model_fingerprint, (height, width), strings, symbol_checksum,
                   CODERS[coder_id], dither_seed, side_info_checksum,
                   bool(flags & FLAG_INTEGER), rate_code)


def overhead(data):
  """Bytes of a bitstream that are not coded strings."""
  return len(data) - sum(len(s) for s in unpack(data).strings)


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

  def varint(self):
    value = 0
    for index in range(MAX_VARINT_BYTES):
      (byte,) = self.take(1)
      value |= (byte & 127) << (7 * index)
      if byte < 128:
        if index and byte == 0:
          raise BitstreamError("Invalid varint (not in its shortest form).")
        return value
    raise BitstreamError(f"Invalid varint at offset {self.position} (over "
                         f"{MAX_VARINT_BYTES} bytes).")
