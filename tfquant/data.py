"""Images in, tensors out: reading files, and random-crop training pipelines."""

import contextlib
import errno
import fcntl
import glob
import os
import warnings

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image, ImageOps

ORIENTATION_TAG = 0x0112  # EXIF

SAMPLE_DIR = os.path.join(os.path.dirname(__file__), "sample_images")
SHARED_DATA_DIR = os.environ.get("TFQUANT_SHARED_DATA") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "shared", "data"))
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def make_folder(path):
  """Creates folder `path` and its parents (if missing), or says which part of it is a file
  (FileExistsError's own message names only `path`)."""
  existing = os.path.abspath(path)
  while not os.path.exists(existing):
    existing = os.path.dirname(existing)
  if not os.path.isdir(existing):
    where = "" if existing == os.path.abspath(path) else f"{existing} in "
    raise NotADirectoryError(f"{where}{path} is a file, not a folder.")
  os.makedirs(path, exist_ok=True)


@contextlib.contextmanager
def exclusive(lock_path, in_use):
  """Holds an exclusive lock on `lock_path` (an flock, the file holding the holder's pid)
  while a process uses what it guards; a second process gets RuntimeError(in_use(pid)).
  The kernel releases an flock when its process ends, however it ends (kill -9 included), so a
  killed process never blocks the next."""
  with open(lock_path, "a+") as f:
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
      if error.errno not in (errno.EAGAIN, errno.EACCES):
        raise
      f.seek(0)
      raise RuntimeError(in_use(f.read().strip() or "unknown")) from None
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def sample_dir():
  """The small image set shipped inside the package."""
  return SAMPLE_DIR


def shared_dir(name):
  """`../shared/data/<name>` beside the repository (or under $TFQUANT_SHARED_DATA), or None
  where it is absent."""
  path = os.path.join(SHARED_DATA_DIR, name)
  return path if os.path.isdir(path) else None


def image_paths(pattern):
  """Image files of a directory or glob pattern, sorted. Raises if there are none."""
  if os.path.isdir(pattern):
    paths = [os.path.join(pattern, f) for f in os.listdir(pattern)]
  else:
    paths = glob.glob(pattern)
  paths = sorted(p for p in paths if p.lower().endswith(IMAGE_EXTENSIONS))
  if not paths:
    raise FileNotFoundError(f"No PNG/JPEG images match {pattern!r}.")
  return paths


def read_image(path):
  """Reads an image file as an H×W×3 uint8 array, as a browser shows it.

  EXIF orientation is applied; grayscale and palette images are converted; alpha and palette
  transparency are dropped (the colour channels are kept); 16-bit images are scaled by their
  bit depth (never by their maximum) to 8 bits. Each of these says so in a warning. Anything
  else, or a file that is not an image, raises ValueError.
  """
  try:
    with Image.open(path) as image:
      raw_mode = image.tile[0][3] if image.tile else ""
      image.load()
      orientation = image.getexif().get(ORIENTATION_TAG, 1)
      if orientation != 1:
        warnings.warn(f"{path}: EXIF orientation {orientation} applied.")
        image = ImageOps.exif_transpose(image)
      mode = image.mode
      if mode in ("I;16", "I;16B", "I;16L") or (mode == "I" and image.format == "PNG"):
        warnings.warn(f"{path}: 16-bit grayscale converted to 8-bit RGB.")
        array = np.asarray(image, dtype=np.float64) * (255.0 / 65535.0)
        return np.repeat(np.round(array).clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)
      if mode == "RGB" and "16" in raw_mode:
        warnings.warn(f"{path}: 16-bit RGB reduced to 8 bits per channel.")
      if mode != "RGB":
        if mode not in ("L", "LA", "P", "PA", "RGBA", "CMYK", "1", "YCbCr"):
          raise ValueError(f"{path}: unsupported image mode {mode!r}.")
        dropped = ("alpha" if "A" in mode else
                   "transparency" if "transparency" in image.info else None)
        warnings.warn(f"{path}: {mode} image converted to RGB"
                      f"{f' ({dropped} dropped)' if dropped else ''}.")
        image = image.convert("RGB")
      return np.asarray(image, dtype=np.uint8)
  except (OSError, Image.DecompressionBombError, SyntaxError) as error:
    reason = error.strerror if isinstance(error, OSError) and error.strerror else error
    raise ValueError(f"{path}: not a readable image ({reason}).") from error


def write_png(path, image):
  Image.fromarray(np.asarray(image, dtype=np.uint8)).save(path)


def _decode(path):
  return tf.image.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)


def patch_dataset(paths, patch_size, batch_size, seed=None, repeat=True,
                  memory_cache_bytes=2**30, random_downscale=None):
  """Batches of random `patch_size`² crops with random flips, float in [0, 1]; with
  `random_downscale` (in (0, 1]), each crop is also shrunk by a random factor from
  [random_downscale, 1] (see `_crop_and_batch`).

  Images smaller than the patch are skipped with a warning. When the decoded images fit in
  `memory_cache_bytes` they are decoded once and kept in memory (decoding a PNG costs more
  than a small model's training step); the crops are the same either way.
  """
  usable, decoded_bytes = [], 0
  for path in paths:
    with Image.open(path) as image:
      width, height = image.size
    if min(width, height) < patch_size:
      logging.warning("Skipping %s: %dx%d is smaller than the %d-pixel patch.", path, width,
                      height, patch_size)
    else:
      usable.append(path)
      decoded_bytes += width * height * 3
  if not usable:
    raise ValueError(f"No image is at least {patch_size}x{patch_size} pixels.")

  dataset = tf.data.Dataset.from_tensor_slices(usable)
  dataset = dataset.shuffle(len(usable), seed=seed, reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  load = _cached_decoder(usable) if decoded_bytes <= memory_cache_bytes else _decode
  dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
  return _crop_and_batch(dataset, patch_size, batch_size, seed, random_downscale)


def _cached_decoder(paths):
  """`_decode` from a table of images decoded once. Only paths are shuffled and checkpointed,
  so an iterator's saved state stays small."""
  serialized = tf.stack([tf.io.serialize_tensor(_decode(path)) for path in paths])
  table = tf.lookup.StaticHashTable(
      tf.lookup.KeyValueTensorInitializer(tf.constant(paths), serialized), default_value="")

  def load(path):
    image = tf.io.parse_tensor(table.lookup(path), tf.uint8)
    image.set_shape([None, None, 3])
    return image

  return load


def _crop_and_batch(images, patch_size, batch_size, seed, random_downscale=None):
  """Random crops, flipped at random, in batches. With `random_downscale`, a crop of side
  patch_size / f (f uniform in [random_downscale, 1], the side at most the image's) is
  resized to patch_size with an antialiasing filter: the same photos seen at many scales,
  as if taken with wider lenses or fewer pixels."""
  # Stateless ops seeded by the element index: the pipeline's position can be checkpointed.
  def crop(index, image):
    element_seed = tf.stack([tf.cast(seed or 0, tf.int64), index])
    if random_downscale is None or random_downscale == 1:
      patch = tf.image.stateless_random_crop(image, (patch_size, patch_size, 3), element_seed)
      patch = tf.cast(patch, tf.float32) / 255.0
    else:
      factor = tf.random.stateless_uniform(
          [], tf.random.experimental.stateless_fold_in(element_seed, 1),
          minval=random_downscale, maxval=1.0)
      side = tf.minimum(tf.cast(tf.round(patch_size / factor), tf.int32),
                        tf.reduce_min(tf.shape(image)[:2]))
      patch = tf.image.stateless_random_crop(image, tf.stack([side, side, 3]), element_seed)
      patch = tf.image.resize(tf.cast(patch, tf.float32) / 255.0, (patch_size, patch_size),
                              antialias=True)
    return tf.image.stateless_random_flip_left_right(patch, element_seed)

  patches = images.enumerate().map(crop, num_parallel_calls=tf.data.AUTOTUNE)
  return patches.batch(batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)


def tfds_patch_dataset(name, split, patch_size, batch_size, data_dir=None, seed=None,
                       random_downscale=None):
  """Random crops from a tensorflow-datasets image dataset (`image` feature), repeated.

  The dataset must already be prepared in `data_dir` (nothing is downloaded here); images
  smaller than the patch are dropped. `random_downscale` as in `patch_dataset`.
  """
  import tensorflow_datasets as tfds  # slow to import; only needed here

  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except tfds.core.registered.DatasetNotFoundError as error:
    raise ValueError(f"Unknown tensorflow-datasets dataset {name!r}.") from error
  if not builder.is_prepared():
    raise ValueError(f"tensorflow-datasets dataset {name!r} is not prepared in "
                     f"{builder.data_dir!r}; prepare it first (this tool never downloads).")
  images = builder.as_dataset(split=split, shuffle_files=True)
  images = images.map(lambda example: example["image"])
  images = images.filter(lambda image: tf.reduce_min(tf.shape(image)[:2]) >= patch_size)
  images = images.map(lambda image: image[..., :3] if image.shape[-1] == 3 else
                      tf.image.grayscale_to_rgb(image[..., :1]))
  images = images.shuffle(256, seed=seed).repeat()
  return _crop_and_batch(images, patch_size, batch_size, seed, random_downscale)
