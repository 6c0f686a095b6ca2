"""Measuring a codec for real: bytes from the coder, quality on the uint8 reconstruction."""

import time

import numpy as np
import tensorflow as tf


def psnr(image, reconstruction, max_value=255.0):
  """PSNR in dB over all RGB values of two uint8 images (inf when identical)."""
  diff = np.asarray(image, np.float64) - np.asarray(reconstruction, np.float64)
  mse = np.mean(diff**2)
  return float("inf") if mse == 0 else float(10 * np.log10(max_value**2 / mse))


def code_image(model, image):
  """Compresses and decompresses `image` (H×W×3 uint8) for real.

  Returns a dict: real `bpp` (bytes of all strings × 8 / pixels), `estimated_bpp` (the model's
  −log2 p of the same symbols), `psnr`, encode/decode seconds, and the reconstruction.
  """
  pixels = image.shape[0] * image.shape[1]
  start = time.perf_counter()
  pieces = model.compress(image)
  encode_seconds = time.perf_counter() - start
  start = time.perf_counter()
  reconstruction = model.decompress(*pieces).numpy()
  decode_seconds = time.perf_counter() - start
  num_bytes = sum(len(s.numpy()[0]) for s in pieces[1:])
  x = tf.constant(image[None], tf.float32) / 255.0
  estimated_bits = float(model(x, training=False)["bpp"]) * pixels
  return {
      "bpp": num_bytes * 8 / pixels,
      "estimated_bpp": estimated_bits / pixels,
      "bytes": num_bytes,
      "psnr": psnr(image, reconstruction),
      "encode_seconds": encode_seconds,
      "decode_seconds": decode_seconds,
      "reconstruction": reconstruction,
  }
