"""The transforms in tiles, so that coding memory depends on the tile, not the image.

    ŷ (latent grid)                       x̂ (image, 16 pixels per latent)
    ┌─────┬─────┬──┐   each core tile     ┌─────┬─────┬──┐
    │ ░░░░░░░   │  │   is transformed     │     │     │  │
    ├─░─┼─────┼─░──┤   with `margin`      ├─────┼─────┼──┤
    │ ░ │core │ ░  │   latents around it  │     │ ███ │  │   and only the core's
    ├─░─┼─────┼─░──┤   (░), clipped at    ├─────┼─────┼──┤   outputs are kept (█)
    │ ░░░░░░░   │  │   the grid's edge    │     │     │  │
    └─────┴─────┴──┘                      └─────┴─────┴──┘

The decoder's synthesis runs so (ŷ → x̂, above), and the encoder's analysis the other way
(x → y, tiles of 16 pixels per latent). Exactness: the margin is the transform's receptive
field (each architecture's `analysis_margin` / `synthesis_margin`, which tests check with
`receptive_margin`), so a kept output depends only on inputs inside its tile, and every layer
sees the same values around it as in the whole image: at the grid's edge, where the tile's edge
is the grid's, and inside it, where the tile holds everything the output depends on. The
outputs are the numbers the untiled transform computes, up to the order in which a convolution
kernel sums, which could change with its input's size (measured: it does not, on the kernels
here); coding always tiles the same way for a given image size, so a file decodes to the same
pixels on every run. Tiles are transformed one after another: one tile's activations live at a
time.
"""

import numpy as np
import tensorflow as tf

TILE_LATENTS = 64  # a core tile's side in latents: 1024 pixels at 16 pixels per latent
PROBE_RADIUS = 14  # the widest receptive field `receptive_margin` can measure, in latents


def receptive_margin(transform, channels, inputs_per_latent, outputs_per_latent,
                     dtype=tf.float32):
  """How many latents around a latent the outputs there depend on, measured: the smallest d
  such that redrawing every input farther than d latents from the centre of a random input
  leaves the centre latent's outputs as they were (two draws; +1 for safety). Forward passes
  only, so it can run while a graph is traced (where gradient tapes do not record)."""
  side = 2 * PROBE_RADIUS + 1
  centre = slice(PROBE_RADIUS * outputs_per_latent, (PROBE_RADIUS + 1) * outputs_per_latent)
  cells = np.abs(np.arange(side * inputs_per_latent) // inputs_per_latent - PROBE_RADIUS)
  distance = np.maximum(cells[:, None], cells[None, :])[None, :, :, None]

  def outputs(inputs):
    return tf.cast(transform(tf.cast(inputs, dtype)), tf.float32)[0, centre, centre].numpy()

  margin = 0
  for seed in (0, 1):
    shape = [1, side * inputs_per_latent, side * inputs_per_latent, channels]
    x, other = (tf.random.stateless_uniform(shape, [seed, i], -4.0, 4.0) for i in (0, 1))
    reference = outputs(x)
    low, high = margin, PROBE_RADIUS  # the centre depends on nothing farther than `high`
    if not np.array_equal(outputs(tf.where(distance > high - 1, other, x)), reference):
      raise ValueError(f"the transform's receptive field reaches past {PROBE_RADIUS} latents")
    while low < high:  # invariant: redrawing beyond `high` changes nothing
      middle = (low + high) // 2
      if np.array_equal(outputs(tf.where(distance > middle, other, x)), reference):
        high = middle
      else:
        low = middle + 1
    margin = high
  return margin + 1


def apply(transform, inputs, margin, inputs_per_latent, outputs_per_latent, dtype,
          finish=tf.identity, tile=None):
  """`finish(transform(inputs))` for one input (1×H×W×C, H and W multiples of
  `inputs_per_latent`) in tiles of `tile`² latents (default `TILE_LATENTS`), each transformed
  with `margin` latents around it; `finish` maps a tile's outputs (H'×W'×C') to `dtype`. One
  tile (no margin) when the input fits in one."""
  tile = tile or TILE_LATENTS
  h = tf.shape(inputs)[1] // inputs_per_latent
  w = tf.shape(inputs)[2] // inputs_per_latent
  rows, cols = (h + tile - 1) // tile, (w + tile - 1) // tile
  i, o = inputs_per_latent, outputs_per_latent
  channels = []  # the outputs' depth, known once the loop's body is traced

  def tile_outputs(row, col):
    top, left = row * tile, col * tile
    bottom, right = tf.minimum(top + tile, h), tf.minimum(left + tile, w)
    y0, x0 = tf.maximum(top - margin, 0), tf.maximum(left - margin, 0)
    y1, x1 = tf.minimum(bottom + margin, h), tf.minimum(right + margin, w)
    outputs = transform(inputs[:, y0 * i:y1 * i, x0 * i:x1 * i, :])
    outputs = finish(outputs[0, (top - y0) * o:(bottom - y0) * o,
                             (left - x0) * o:(right - x0) * o, :])
    channels.append(outputs.shape[-1])
    return outputs

  def row_outputs(row):
    # Columns are concatenated along axis 0 of their transposes (TensorArray.concat's axis).
    def body(col, columns):
      return col + 1, columns.write(col, tf.transpose(tile_outputs(row, col), [1, 0, 2]))
    _, columns = tf.while_loop(
        lambda col, _: col < cols, body,
        (tf.constant(0), tf.TensorArray(dtype, size=cols, infer_shape=False)),
        parallel_iterations=1)  # one tile's activations alive at a time
    return tf.transpose(columns.concat(), [1, 0, 2])

  def body(row, output_rows):
    return row + 1, output_rows.write(row, row_outputs(row))
  _, output_rows = tf.while_loop(
      lambda row, _: row < rows, body,
      (tf.constant(0), tf.TensorArray(dtype, size=rows, infer_shape=False)),
      parallel_iterations=1)
  outputs = output_rows.concat()[None]
  outputs.set_shape([1, None, None, channels[0]])  # TensorArray.concat forgets it
  return outputs


def to_pixels(x_hat):
  """A synthesis' output in [0, 1] as uint8 pixels: ×255, rounded, saturated."""
  return tf.saturate_cast(tf.round(tf.cast(x_hat, tf.float32) * 255.0), tf.uint8)
