"""tfquant: quantization approximations for learned image compression, on TensorFlow Compression.

Rooms: `quantizers` (one Keras layer per approximation), `latent_codecs` (a quantizer pair and an
entropy model per latent, composed), `models` (architectures), `coding` (the .tfq container and
the coders: bytes only), `files` (image files ⇄ .tfq files), `train`, `evaluate`, `compare`,
`export`, `serving`, `data`.
"""

__version__ = "0.1.0"
