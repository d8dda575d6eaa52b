"""The backbone registry: one :class:`BackboneSpec` per network, driving build, docs and tests.

ImageNet networks come from ``keras.applications`` (``include_top=False``, no pooling: the
backbone returns its last feature map and the head pools it). The three baselines of
:mod:`lensfind.zoo.baselines` are trained from scratch on the 1-channel cutout.

``python -m lensfind.zoo`` prints :func:`describe_zoo`, the Markdown table of the registry.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable

import keras

from lensfind.zoo.baselines import (
    ALEXNET_MIN_SIZE,
    LENS_CNN_MIN_SIZE,
    LENSFLOW_MIN_SIZE,
    SMALL_CNN_MIN_SIZE,
    alexnet_bn,
    lens_cnn,
    lensflow,
    small_cnn,
)
from lensfind.zoo.layers import RANGE_MODES

#: What each preprocessing mode means, for the docs.
RANGE_TEXT = {
    "tf": "[-1, 1]",
    "caffe": "BGR [0, 255] - ImageNet mean",
    "torch": "([0, 1] - mean) / std",
    "raw255": "[0, 255] (rescaled inside)",
    "unit": "normalised cutout",
}


@dataclasses.dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and what it expects.

    Attributes:
        builder: ``builder(*, input_shape, weights, config, name) -> keras.Model`` mapping an
            image batch to features (a 4-D feature map or a 2-D vector); ``weights`` is
            ``"imagenet"`` or ``None`` (local files are loaded afterwards by ``build_model``).
        preprocess: input range, a :data:`~lensfind.zoo.layers.RANGE_MODES` entry, matching
            ``keras.applications.<module>.preprocess_input``.
        min_size: smallest input side in pixels the network accepts.
        default_size: input side used when ``ModelConfig.input_size`` is 0 (the experiments'
            default: the 100-pixel cutout upsampled twice, or the cutout itself for baselines).
        pretrained: ImageNet weights can be downloaded (``weights="imagenet"``).
        stem: the cutout goes through the deconvolutional upsampling stem to 3 channels; if
            False the normalised cutout is fed as is (resized if ``input_size`` differs).
        keras_name: the ``keras.applications`` function, or the baseline's origin.
        paper_params: parameter count quoted by the thesis Table 5-1, if any.
        description: one line for the docs.
    """

    builder: Callable[..., keras.Model]
    preprocess: str
    min_size: int
    default_size: int
    pretrained: bool
    stem: bool = True
    keras_name: str = ""
    paper_params: int | None = None
    description: str = ""

    def __post_init__(self):
        if self.preprocess not in RANGE_MODES:
            raise ValueError(f"BackboneSpec.preprocess = {self.preprocess!r} is invalid: "
                             f"expected one of {', '.join(RANGE_MODES)}")
        if not 1 <= self.min_size <= self.default_size:
            raise ValueError(f"BackboneSpec sizes invalid: min_size={self.min_size}, "
                             f"default_size={self.default_size}")


def _application(name: str) -> Callable[..., keras.Model]:
    """Builder for ``keras.applications.<name>`` without its classification top."""
    def build(*, input_shape, weights=None, config=None, name: str = "backbone") -> keras.Model:
        del config
        app = getattr(keras.applications, build.keras_name)
        return app(include_top=False, weights=weights, input_shape=tuple(input_shape),
                   pooling=None, name=name)
    build.keras_name = name
    build.__name__ = f"build_{name}"
    build.__doc__ = f"``keras.applications.{name}(include_top=False)``."
    return build


def _spec(keras_name: str, **kwargs) -> BackboneSpec:
    return BackboneSpec(builder=_application(keras_name), keras_name=keras_name,
                        pretrained=True, **kwargs)


#: name -> spec. Names are the values of ``[model] backbone`` in experiment files.
BACKBONES: dict[str, BackboneSpec] = {
    "xception": _spec("Xception", preprocess="tf", min_size=71, default_size=200,
                      paper_params=23_000_000, description="depthwise-separable Inception"),
    "inception_v3": _spec("InceptionV3", preprocess="tf", min_size=75, default_size=200,
                          paper_params=24_000_000, description="Inception v3"),
    "resnet50": _spec("ResNet50", preprocess="caffe", min_size=32, default_size=200,
                      paper_params=26_000_000, description="residual network, 50 layers"),
    "nasnet_mobile": _spec("NASNetMobile", preprocess="tf", min_size=32, default_size=200,
                           description="architecture search, mobile size"),
    "nasnet_large": _spec("NASNetLarge", preprocess="tf", min_size=32, default_size=200,
                          paper_params=93_000_000, description="architecture search, large"),
    "vgg16": _spec("VGG16", preprocess="caffe", min_size=32, default_size=200,
                   paper_params=139_000_000, description="VGG, 16 layers"),
    "vgg19": _spec("VGG19", preprocess="caffe", min_size=32, default_size=200,
                   paper_params=144_000_000, description="VGG, 19 layers"),
    "efficientnet_b0": _spec("EfficientNetB0", preprocess="raw255", min_size=32,
                             default_size=200, description="EfficientNet B0"),
    "lensflow": BackboneSpec(
        builder=lensflow, preprocess="unit", min_size=LENSFLOW_MIN_SIZE,
        default_size=100, pretrained=False, stem=False, keras_name="LensFlow (thesis Table 3-1)",
        description="3 conv + tanh, 3 dense, from scratch"),
    "small_cnn": BackboneSpec(
        builder=small_cnn, preprocess="unit", min_size=SMALL_CNN_MIN_SIZE,
        default_size=100, pretrained=False, stem=False,
        keras_name="small CNN (DeepLense substructure study's reference)",
        description="4 conv 3x3 + batch norm + ReLU + max-pool, 0.4M parameters, from scratch"),
    "lens_cnn": BackboneSpec(
        builder=lens_cnn, preprocess="unit", min_size=LENS_CNN_MIN_SIZE,
        default_size=100, pretrained=False, stem=False,
        keras_name="lens CNN (small_cnn + a fifth block)",
        description="5 conv 3x3 + batch norm + ReLU + max-pool, receptive field 63 px, "
                    "from scratch"),
    "alexnet_bn": BackboneSpec(
        builder=alexnet_bn, preprocess="unit", min_size=ALEXNET_MIN_SIZE,
        default_size=100, pretrained=False, stem=False,
        keras_name="AlexNet-BN (covariance paper Fig. 2)",
        description="AlexNet, dropout before / batch norm after each conv, from scratch"),
}


def count_params(model: keras.Model) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts of a built model."""
    trainable = sum(int(_size(w)) for w in model.trainable_weights)
    total = sum(int(_size(w)) for w in model.weights)
    return total, trainable


def _size(variable) -> int:
    n = 1
    for d in variable.shape:
        n *= int(d)
    return n
