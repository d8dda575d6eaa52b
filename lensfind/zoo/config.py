"""The ``[model]`` table of an experiment file: backbone, regime, weights, stem and head."""
from __future__ import annotations

import dataclasses

from lensfind.probabilistic import REGRESSION_HEADS
from lensfind.sim.params import TABLE1_TARGETS
from lensfind.zoo.backbones import BACKBONES
from lensfind.validation import check_choice, check_range, fail

REGIMES = ("frozen", "finetune", "random")
CLASSIFIER_HEADS = ("classifier",)
#: K-way softmax heads (K = the task's number of classes)
MULTICLASS_HEADS = ("softmax",)
#: names of ``lensfind.zoo.heads.HEADS`` (a test keeps the two equal)
HEAD_KINDS = CLASSIFIER_HEADS + MULTICLASS_HEADS + REGRESSION_HEADS
#: optimiser name -> (Keras optimizer class, fixed arguments); ``train.optimizer`` picks one
OPTIMIZERS: dict[str, tuple[str, dict]] = {
    "adam": ("Adam", {}),
    "nadam": ("Nadam", {}),
    "rmsprop": ("RMSprop", {}),
    "sgd": ("SGD", {"momentum": 0.9, "nesterov": True}),
}
NORMALIZATIONS = ("asinh", "linear")
ACTIVATIONS = ("relu", "elu", "gelu", "selu", "swish", "tanh")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """How to build the network (see :func:`lensfind.zoo.model.build_model`).

    Attributes:
        backbone: a name in ``lensfind.zoo.backbones.BACKBONES`` (e.g. ``"xception"``).
        regime: ``"frozen"`` (stem and head train, backbone body fixed), ``"finetune"`` (all
            layers train, the backbone's batch-norm layers kept frozen, in inference mode) or
            ``"random"`` (Glorot init, all train; ``weights`` is then ignored) -- the three
            regimes of the thesis Table 5-1.
        weights: ``"imagenet"`` (Keras download), ``"none"``, or the path of a local weights file
            for the backbone (offline clusters): a ``.weights.h5`` saved from a backbone of the
            same name, or Keras' own ``*_notop.h5`` ImageNet file. The from-scratch baselines
            take ``"none"`` or a file.
        input_size: side in pixels of the backbone input made by the upsampling stem; 0 means
            the backbone's ``default_size`` (200 for the ImageNet networks, 100 for the
            baselines). Must be at least the backbone's ``min_size``.
        stem_filters: channels of the stem's hidden transposed convolutions.
        normalize: per-image stretch after robust standardisation, ``"asinh"`` or ``"linear"``.
        dense_units: width of the head's dense layer; 0 leaves the dense block out (the head is
            then pooling, dropout and the output layer, e.g. LensFlow exactly as in Table 3-1).
        activation: activation of the head's dense block.
        pool_dropout: dropout rate after global pooling.
        dense_dropout: dropout rate after the dense + batch-norm block.
        conv_dropout: dropout rate before each layer of the ``alexnet_bn`` baseline (0.03 in
            the covariance paper).
        head: ``"classifier"`` (2-way softmax, lens finding), ``"softmax"`` (one output per class
            of a K-class task), ``"mvn_full"``, ``"mvn_diag"`` or ``"mse"``.
        targets: lens parameters predicted by regression heads, names from the simulator.
    """

    backbone: str = "xception"
    regime: str = "frozen"
    weights: str = "imagenet"
    input_size: int = 0
    stem_filters: int = 32
    normalize: str = "asinh"
    dense_units: int = 256
    activation: str = "relu"
    pool_dropout: float = 0.3
    dense_dropout: float = 0.3
    conv_dropout: float = 0.03
    head: str = "classifier"
    targets: tuple[str, ...] = TABLE1_TARGETS

    def __post_init__(self):
        check_choice("model.backbone", self.backbone, tuple(BACKBONES))
        check_choice("model.regime", self.regime, REGIMES)
        check_choice("model.head", self.head, HEAD_KINDS)
        if not isinstance(self.weights, str) or not self.weights:
            fail("model.weights", self.weights, "'imagenet', 'none' or a weights-file path")
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            fail("model.input_size", self.input_size, "an integer number of pixels (0: default)")
        if self.input_size != 0 and not 32 <= self.input_size <= 1024:
            fail("model.input_size", self.input_size,
                 "0 (the backbone's default size) or a number of pixels in [32, 1024]")
        for name in ("stem_filters", "dense_units"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"model.{name}", value, "an integer")
        check_range("model.stem_filters", self.stem_filters, 1, 4096)
        check_range("model.dense_units", self.dense_units, 0, 65536)
        check_choice("model.normalize", self.normalize, NORMALIZATIONS)
        check_choice("model.activation", self.activation, ACTIVATIONS)
        check_range("model.pool_dropout", self.pool_dropout, 0.0, 1.0, hi_open=True)
        check_range("model.dense_dropout", self.dense_dropout, 0.0, 1.0, hi_open=True)
        check_range("model.conv_dropout", self.conv_dropout, 0.0, 1.0, hi_open=True)
        if not self.targets or not all(isinstance(t, str) for t in self.targets):
            fail("model.targets", self.targets, "a non-empty list of parameter names")
        if len(set(self.targets)) != len(self.targets):
            fail("model.targets", self.targets, "parameter names without repeats")
