"""The reference for training speed: Ballé18 written directly with tensorflow-compression's
layers and entropy models, as in TFC's models/bmshj2018.py (additive noise; of tfquant only the
GDN subclass that lets `train.make_train_step` trace TFC's GDN without AutoGraph)."""

import tensorflow as tf
import tensorflow_compression as tfc

from tfquant.models.layers import GDN


def _conv(filters, kernel, stride, activation, transpose=False, parameter="rdft"):
  return tfc.SignalConv2D(filters, (kernel, kernel), corr=not transpose,
                          strides_down=1 if transpose else stride,
                          strides_up=stride if transpose else 1, padding="same_zeros",
                          use_bias=True, activation=activation, kernel_parameter=parameter)


class ReferenceBalle2018(tf.keras.Model):

  def __init__(self, num_filters, latent_filters, lmbda=0.01):
    super().__init__()
    n, m = num_filters, latent_filters
    self.lmbda = lmbda
    self.analysis = tf.keras.Sequential(
        [_conv(n, 5, 2, GDN()) for _ in range(3)] + [_conv(m, 5, 2, None)])
    self.synthesis = tf.keras.Sequential(
        [_conv(n, 5, 2, GDN(inverse=True), transpose=True) for _ in range(3)] +
        [_conv(3, 5, 2, None, transpose=True)])
    self.hyper_analysis = tf.keras.Sequential(
        [_conv(n, 3, 1, tf.nn.relu), _conv(n, 5, 2, tf.nn.relu), _conv(n, 5, 2, None)])
    self.hyper_synthesis = tf.keras.Sequential(
        [_conv(n, 5, 2, tf.nn.relu, True, "variable"),
         _conv(n, 5, 2, tf.nn.relu, True, "variable"), _conv(m, 3, 1, None, True, "variable")])
    self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
    self.scale_fn = tfc.LocationScaleIndexedEntropyModel(
        tfc.NoisyNormal, 64, lambda i: tf.exp(tf.math.log(0.11) + i * (
            tf.math.log(256.0) - tf.math.log(0.11)) / 63.0), coding_rank=3)

  def call(self, x, training=True, step=None):
    del step  # additive noise has no schedule
    side = tfc.ContinuousBatchedEntropyModel(self.hyperprior, coding_rank=3)
    y = self.analysis(x)
    z = self.hyper_analysis(abs(y))
    z_tilde, side_bits = side(z, training=training)
    y_tilde, bits = self.scale_fn(y, self.hyper_synthesis(z_tilde), training=training)
    x_tilde = self.synthesis(y_tilde)
    pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
    bpp = (tf.reduce_sum(bits) + tf.reduce_sum(side_bits)) / pixels
    mse = tf.reduce_mean(tf.math.squared_difference(255 * x, 255 * x_tilde))
    return {"loss": bpp + self.lmbda * mse, "bpp": bpp, "mse": mse}
