"""Custom Keras layers of the zoo, written with ``keras.ops`` only (any Keras backend).

Every layer is registered for serialisation (package ``"lensfind"``) so that a model saved as
``.keras`` loads again with ``keras.saving.load_model(path, safe_mode=True)`` -- importing
``lensfind.zoo`` is enough to register them.

* :class:`RobustNormalization` -- per-image normalisation of a raw cutout in any units.
* :class:`BackboneRange` -- maps ``[-1, 1]`` onto the input range a backbone was trained on.
* :class:`MCDropout` -- dropout that can stay active at inference (Monte-Carlo dropout).
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

PACKAGE = "lensfind"

#: 1 / Phi^-1(3/4): turns a median absolute deviation into a Gaussian standard deviation.
MAD_TO_SIGMA = 1.482602218505602

#: ImageNet channel means in BGR order, subtracted by ``preprocess_input(mode="caffe")``.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: ImageNet channel means and standard deviations (RGB, in [0, 1]) of ``mode="torch"``.
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)
TORCH_STD_RGB = (0.229, 0.224, 0.225)

#: Input ranges a backbone can expect, by name (cf. ``keras.applications.imagenet_utils``).
#: ``tf``: [-1, 1]; ``caffe``: [0, 255] BGR minus the ImageNet mean; ``torch``: [0, 1] minus the
#: ImageNet mean, over the ImageNet standard deviation; ``raw255``: [0, 255] (models such as
#: EfficientNet that rescale inside); ``unit``: [-1, 1] unchanged (from-scratch baselines).
RANGE_MODES = ("tf", "caffe", "torch", "raw255", "unit")


@keras.saving.register_keras_serializable(package=PACKAGE)
class RobustNormalization(keras.layers.Layer):
    """Per-image normalisation of raw cutouts in any units (counts, electrons, nanomaggies...).

    For each image (all pixels and channels together) the median is subtracted and the result is
    divided by a robust noise scale, ``1.4826 * median(|x - median|)`` (the standard deviation
    for Gaussian noise); when more than half of the pixels are identical (noise-free simulations)
    the scale falls back to the root-mean-square deviation from the median, and a constant
    image maps to zeros. Offsets and units therefore drop out: ``f(a * x + b) == f(x)`` for
    any ``a > 0``. With C bands every band shares the image's one median and scale, so the
    bands' flux ratios (the colours) reach the network.

    With ``stretch="asinh"`` the result (in units of the noise) is compressed as
    ``asinh(z / softening)`` so that bright lens arcs hundreds of sigma above the sky stay within
    a few units; ``stretch="linear"`` leaves it as is. Non-finite pixels (NaN, inf: masked or
    saturated) are replaced by the mean of the finite pixels first.

    Args:
        stretch: ``"asinh"`` or ``"linear"``.
        softening: scale of the asinh stretch in noise units (linear below it, logarithmic above).

    Input shape ``(N, H, W, C)``; output the same shape, float32.
    """

    STRETCHES = ("asinh", "linear")

    def __init__(self, stretch: str = "asinh", softening: float = 3.0, **kwargs):
        super().__init__(**kwargs)
        if stretch not in self.STRETCHES:
            raise ValueError(f"RobustNormalization: stretch = {stretch!r} is invalid: "
                             f"expected one of {', '.join(self.STRETCHES)}")
        if not softening > 0:
            raise ValueError(f"RobustNormalization: softening = {softening!r} is invalid: "
                             "expected a number > 0")
        self.stretch = stretch
        self.softening = float(softening)

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        shape = ops.shape(x)
        flat = ops.reshape(x, (shape[0], -1))
        finite = ops.isfinite(flat)
        n_finite = ops.maximum(ops.sum(ops.cast(finite, "float32"), axis=1, keepdims=True), 1.0)
        fill = ops.sum(ops.where(finite, flat, 0.0), axis=1, keepdims=True) / n_finite
        flat = ops.where(finite, flat, fill)
        median = ops.median(flat, axis=1, keepdims=True)
        centred = flat - median
        mad = ops.median(ops.abs(centred), axis=1, keepdims=True) * MAD_TO_SIGMA
        std = ops.sqrt(ops.mean(ops.square(centred), axis=1, keepdims=True))
        scale = ops.where(mad > 1e-6 * std, mad, std)
        tiny = 1e-30
        z = ops.where(scale > tiny, centred / ops.maximum(scale, tiny), 0.0)
        if self.stretch == "asinh":
            z = ops.arcsinh(z / self.softening)
        return ops.reshape(z, shape)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(stretch=self.stretch, softening=self.softening)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class BackboneRange(keras.layers.Layer):
    """Affine map of ``[-1, 1]`` (a tanh output) onto a backbone's expected input range.

    The modes follow ``keras.applications.imagenet_utils.preprocess_input``: with ``t`` in
    [-1, 1] and ``p = 127.5 (t + 1)`` in [0, 255],

    * ``"tf"`` (Xception, InceptionV3, NASNet): ``t`` itself;
    * ``"caffe"`` (ResNet50, VGG16/19): ``p - mean_bgr[c]`` per channel (channel 0 = "blue");
    * ``"torch"`` (DenseNet-style): ``(p / 255 - mean_rgb[c]) / std_rgb[c]``;
    * ``"raw255"`` (EfficientNet, which rescales inside the model): ``p``;
    * ``"unit"``: ``t`` (no ImageNet convention; from-scratch networks).

    The three channels are made by a trainable stem, so the channel order only decides which
    mean is subtracted from which channel, as ``preprocess_input`` would do.
    """

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in RANGE_MODES:
            raise ValueError(f"BackboneRange: mode = {mode!r} is invalid: "
                             f"expected one of {', '.join(RANGE_MODES)}")
        self.mode = mode

    def _scale_offset(self, channels: int) -> tuple[Sequence[float], Sequence[float]]:
        if self.mode in ("tf", "unit"):
            return [1.0] * channels, [0.0] * channels
        if self.mode == "raw255":
            return [127.5] * channels, [127.5] * channels
        if channels != 3:
            raise ValueError(f"BackboneRange mode {self.mode!r} needs 3 channels, got {channels}")
        if self.mode == "caffe":
            return [127.5] * 3, [127.5 - m for m in CAFFE_MEAN_BGR]
        # torch: ((t + 1) / 2 - mean) / std
        return ([0.5 / s for s in TORCH_STD_RGB],
                [(0.5 - m) / s for m, s in zip(TORCH_MEAN_RGB, TORCH_STD_RGB)])

    def call(self, inputs):
        scale, offset = self._scale_offset(int(inputs.shape[-1]))
        scale = ops.convert_to_tensor(scale, dtype=inputs.dtype)
        offset = ops.convert_to_tensor(offset, dtype=inputs.dtype)
        return inputs * scale + offset

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def output_range(self, channels: int = 3) -> tuple[float, float]:
        """Lowest and highest value this layer can output for inputs in [-1, 1]."""
        scale, offset = self._scale_offset(channels)
        lows = [o - s for s, o in zip(scale, offset)]
        highs = [o + s for s, o in zip(scale, offset)]
        return min(lows), max(highs)

    def get_config(self):
        config = super().get_config()
        config.update(mode=self.mode)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class MCDropout(keras.layers.Dropout):
    """Dropout that stays active at inference when ``mc`` is set (Monte-Carlo dropout).

    With ``mc=False`` it is exactly ``keras.layers.Dropout``: active in training only. With
    ``mc=True`` every call drops units, so repeated predictions of one image sample the
    approximate posterior of the network (Gal & Ghahramani 2015; covariance paper section 4).
    Use :func:`set_mc_dropout` to switch all such layers of a model at once.

    Args:
        rate: fraction of the units to drop, in [0, 1).
        mc: keep dropping at inference.
    """

    def __init__(self, rate: float, mc: bool = False, **kwargs):
        super().__init__(rate, **kwargs)
        self.mc = bool(mc)

    def call(self, inputs, training=False):
        return super().call(inputs, training=True if self.mc else training)

    def get_config(self):
        config = super().get_config()
        config.update(mc=self.mc)
        return config


def mc_dropout_layers(model: keras.layers.Layer) -> list[MCDropout]:
    """All :class:`MCDropout` layers of a model, nested models included."""
    found = []
    for layer in getattr(model, "_flatten_layers", lambda **_: [model])(include_self=True):
        if isinstance(layer, MCDropout):
            found.append(layer)
    return found


def set_mc_dropout(model: keras.Model, enabled: bool) -> int:
    """Switch Monte-Carlo dropout on or off in every :class:`MCDropout` layer of ``model``.

    Forgets the model's compiled predict function so that ``model.predict`` sees the change.

    Returns:
        The number of layers switched.
    """
    layers = mc_dropout_layers(model)
    for layer in layers:
        layer.mc = bool(enabled)
    if hasattr(model, "predict_function"):
        model.predict_function = None
    return len(layers)
