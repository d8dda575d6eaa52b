"""Two small networks trained from scratch, the baselines of the zoo.

* :func:`lensflow` -- the LensFlow CNN (Pourrahmani et al. 2018), thesis Table 3-1:

  ======  ==================  ==========================
  layer   type                output (100x100 input)
  ======  ==================  ==========================
  1       conv 5x5 + tanh     30 x 96 x 96
  2       max-pool 2x2        30 x 48 x 48
  3       conv 5x5 + tanh     60 x 44 x 44
  4       max-pool 2x2        60 x 22 x 22
  5       conv 5x5 + tanh     90 x 18 x 18
  6       max-pool 2x2        90 x 9 x 9 (7290 features)
  7-9     dense + ReLU        1000, 800, 600
  10      softmax             2 (the head)
  ======  ==================  ==========================

* :func:`small_cnn` -- a 0.4M-parameter CNN, the DeepLense substructure study's "small CNN"
  reference (its exact layers are not given; this is the usual modern small CNN): four blocks of
  3x3 convolution (32, 64, 128, 256 filters, same padding, no bias) + batch norm + ReLU + 2x2
  max-pool, returning the last feature map (the head pools it). Without the batch norm the
  last block's ReLUs died during the long plateau before substructure is learned (measured on
  the ``cv-substructure`` ``[small]`` population: all 256 features zero for every image after
  20-30 epochs, loss stuck at ln 3). Batch norm's moving statistics need a few hundred training
  steps to settle: validation predictions of shorter runs are not meaningful.

* :func:`lens_cnn` -- ``small_cnn`` with a fifth block (256 filters): its receptive field,
  63 pixels, covers a 64-pixel cutout, so an arc and its counter-image on opposite sides of the
  lens (up to 2 theta_E = 3.2" apart) fall inside one unit's view before the head's global
  pooling. ``small_cnn`` sees 31 pixels (2.4" at 64 px over 5"): measured on
  ``experiments/reference-find.toml``'s mix it called 55 % of galaxies with an unlensed
  neighbour lenses (README, "Reference result").

* :func:`alexnet_bn` -- the AlexNet of the covariance paper (Sorscher, Wagner-Carena & Carena,
  Fig. 2): AlexNet (Krizhevsky et al. 2012: conv 96@11x11/4, pool, conv 256@5x5, pool,
  conv 384@3x3, 384@3x3, 256@3x3, pool, dense 4096, 4096) with dropout before each convolution
  (and each dense layer) and batch normalisation after each convolution. Its dropout layers are
  :class:`~lensfind.zoo.layers.MCDropout` with rate ``ModelConfig.conv_dropout`` (the paper's
  best rate is 0.03) so that the whole network can be sampled with Monte-Carlo dropout.

All four take the normalised 1-channel cutout directly (no upsampling stem) and return the last
dense layer's activations; the head of :mod:`lensfind.zoo.heads` adds the output layer. With
``ModelConfig(dense_units=0, pool_dropout=0.0)`` the classifier head is a bare 2-way softmax,
which makes ``lensflow`` exactly Table 3-1.
"""
from __future__ import annotations

import keras

from lensfind.zoo.layers import MCDropout

#: Smallest input side each baseline accepts (every pooled map keeps at least 1 pixel).
LENSFLOW_MIN_SIZE = 36
SMALL_CNN_MIN_SIZE = 32
LENS_CNN_MIN_SIZE = 32
ALEXNET_MIN_SIZE = 67


def _input(name: str, input_shape, weights):
    """The model input; refuses a weights download (baselines have none)."""
    if weights is not None:
        raise ValueError(f"{name} has no pretrained weights to download")
    return keras.Input(shape=input_shape, name=f"{name}_input")


def _conv_pool(x, filters, *, kernel: int, activation: str, padding: str):
    """A ``Conv2D`` + 2x2 max-pool per entry of ``filters`` (layers ``conv<i>``, ``pool<i>``)."""
    for i, n in enumerate(filters, start=1):
        x = keras.layers.Conv2D(n, kernel, padding=padding, activation=activation,
                                name=f"conv{i}")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return x


def lensflow(*, input_shape, weights=None, config=None, name: str = "lensflow") -> keras.Model:
    """The LensFlow CNN of thesis Table 3-1 without its softmax layer.

    Args:
        input_shape: ``(H, W, C)``, normally ``(100, 100, 1)``; at least 36x36.
        weights: must be ``None``; local weights files are loaded by the caller.
        config: unused (the architecture is fixed by the table).
        name: model name.
    """
    inputs = _input(name, input_shape, weights)
    x = _conv_pool(inputs, (30, 60, 90), kernel=5, activation="tanh", padding="valid")
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate((1000, 800, 600), start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"fc{i}")(x)
    return keras.Model(inputs, x, name=name)


def small_cnn(*, input_shape, weights=None, config=None, name: str = "small_cnn") -> keras.Model:
    """Four conv (3x3, same) + batch norm + ReLU + max-pool blocks of 32, 64, 128, 256 filters.

    Args:
        input_shape: ``(H, W, C)``, at least 32x32.
        weights: must be ``None``; local weights files are loaded by the caller.
        config: unused.
        name: model name.
    """
    return _conv_bn_blocks(name, input_shape, weights, (32, 64, 128, 256))


def lens_cnn(*, input_shape, weights=None, config=None, name: str = "lens_cnn") -> keras.Model:
    """Five conv (3x3, same) + batch norm + ReLU + max-pool blocks of 32, 64, 128, 256, 256
    filters: receptive field 63 pixels (the whole 64-pixel cutout).

    Args:
        input_shape: ``(H, W, C)``, at least 32x32 (the last map is then 1x1).
        weights: must be ``None``; local weights files are loaded by the caller.
        config: unused.
        name: model name.
    """
    return _conv_bn_blocks(name, input_shape, weights, (32, 64, 128, 256, 256))


def _conv_bn_blocks(name: str, input_shape, weights, filters) -> keras.Model:
    """Blocks of conv 3x3 (no bias) + batch norm + ReLU + 2x2 max-pool, one per ``filters``."""
    inputs = _input(name, input_shape, weights)
    x = inputs
    for i, n in enumerate(filters, start=1):
        x = keras.layers.Conv2D(n, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"conv{i}_relu")(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i}")(x)
    return keras.Model(inputs, x, name=name)


def alexnet_bn(*, input_shape, weights=None, config=None, name: str = "alexnet_bn") -> keras.Model:
    """AlexNet with dropout before and batch norm after each convolution (covariance paper).

    Args:
        input_shape: ``(H, W, C)``; at least 67x67.
        weights: must be ``None``; local weights files are loaded by the caller.
        config: a :class:`~lensfind.zoo.config.ModelConfig`; ``conv_dropout`` sets the rate of
            every dropout layer (0.03 when ``config`` is ``None``).
        name: model name.
    """
    rate = 0.03 if config is None else config.conv_dropout
    inputs = _input(name, input_shape, weights)
    x = inputs
    convs = ((96, 11, 4, "valid", True), (256, 5, 1, "same", True), (384, 3, 1, "same", False),
             (384, 3, 1, "same", False), (256, 3, 1, "same", True))
    for i, (filters, kernel, stride, padding, pool) in enumerate(convs, start=1):
        x = MCDropout(rate, name=f"conv{i}_dropout")(x)
        x = keras.layers.Conv2D(filters, kernel, strides=stride, padding=padding, use_bias=False,
                                name=f"conv{i}")(x)
        x = keras.layers.BatchNormalization(name=f"conv{i}_bn")(x)
        x = keras.layers.Activation("relu", name=f"conv{i}_relu")(x)
        if pool:
            x = keras.layers.MaxPooling2D(3, strides=2, name=f"pool{i}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i in (1, 2):
        x = MCDropout(rate, name=f"fc{i}_dropout")(x)
        x = keras.layers.Dense(4096, activation="relu", name=f"fc{i}")(x)
    return keras.Model(inputs, x, name=name)
