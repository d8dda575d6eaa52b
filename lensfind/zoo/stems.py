"""Deconvolutional upsampling stems: a raw C-channel cutout (1 band, or C bands of
``simulation.bands``) -> a backbone-ready 3-channel image.

The thesis (section 5) adds "a few deconvolutional layers to upsample the input image to
appropriate dimensions" in front of each pretrained network. :func:`upsampling_stem` does that:

1. :class:`~lensfind.zoo.layers.RobustNormalization` -- per image, any units;
2. ``k`` blocks of ``Conv2DTranspose(stem_filters, 3, strides=2)`` + batch norm + ReLU, with
   ``k = round(log2(input_size / H))`` (at least 0), each doubling the side; with ``k = 0`` one
   stride-1 block;
3. ``Conv2DTranspose(3, 3)`` + tanh, so values lie in [-1, 1];
4. ``Resizing`` (bilinear) to ``input_size`` when ``H * 2**k`` is not already that size;
5. :class:`~lensfind.zoo.layers.BackboneRange` onto the backbone's preprocessing range.

For a 100x100 cutout and a 200x200 Xception input this is one stride-2 transposed convolution
and no resizing.
"""
from __future__ import annotations

import math

import keras

from lensfind.zoo.layers import BackboneRange, RobustNormalization


def n_upsamplings(height: int, input_size: int) -> int:
    """Number of stride-2 transposed convolutions taking ``height`` closest to ``input_size``."""
    if input_size <= height:
        return 0
    return max(0, round(math.log2(input_size / height)))


def normalize_block(inputs, *, stretch: str = "asinh", name: str = "normalize"):
    """The per-image normalisation every model starts with (always float32: raw counts and their
    medians lose too much in bfloat16/float16 under a mixed-precision policy)."""
    return RobustNormalization(stretch=stretch, dtype="float32", name=name)(inputs)


def resize_to(x, size: int, *, name: str):
    """Bilinear resize of ``x`` to ``size x size`` (antialiased when shrinking), if needed."""
    height, width = int(x.shape[1]), int(x.shape[2])
    if (height, width) == (size, size):
        return x
    return keras.layers.Resizing(size, size, interpolation="bilinear",
                                 antialias=size < max(height, width), name=name)(x)


def upsampling_stem(x, *, input_size: int, mode: str, filters: int = 32, channels: int = 3,
                    name: str = "stem"):
    """Transposed-convolution stem from normalised cutouts to ``(input_size, input_size, 3)``.

    Args:
        x: normalised images ``(N, H, W, C)`` (a symbolic Keras tensor), any number of bands C.
        input_size: side of the output in pixels.
        mode: a :data:`~lensfind.zoo.layers.RANGE_MODES` entry, the backbone's input range.
        filters: channels of the hidden transposed convolutions.
        channels: channels of the output (3 for ImageNet backbones).
        name: prefix of the layer names.

    Returns:
        The stem output, ``(N, input_size, input_size, channels)``.
    """
    height = int(x.shape[1])
    k = n_upsamplings(height, input_size)
    for i in range(max(k, 1)):
        x = keras.layers.Conv2DTranspose(filters, 3, strides=2 if k else 1, padding="same",
                                         use_bias=False, name=f"{name}_deconv{i + 1}")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn{i + 1}")(x)
        x = keras.layers.Activation("relu", name=f"{name}_relu{i + 1}")(x)
    x = keras.layers.Conv2DTranspose(channels, 3, padding="same", activation="tanh",
                                     name=f"{name}_to_rgb")(x)
    x = resize_to(x, input_size, name=f"{name}_resize")
    return BackboneRange(mode, name=f"{name}_range")(x)
