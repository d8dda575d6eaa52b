"""The ``[model]`` table of an experiment file: backbone, regime, weights, stem and head."""
from __future__ import annotations

import dataclasses

from lensfind.validation import check_choice, check_range, fail

REGIMES = ("frozen", "finetune", "random")
HEAD_KINDS = ("classifier", "mvn_full", "mvn_diag", "mse")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """How to build the network (see :func:`lensfind.zoo.model.build_model`).

    Attributes:
        backbone: a name in ``lensfind.zoo.backbones.BACKBONES`` (e.g. ``"xception"``).
        regime: ``"frozen"`` (stem and head train, backbone body fixed), ``"finetune"`` (all
            layers train, batch-norm statistics kept frozen) or ``"random"`` (Glorot init, all
            train) -- the three regimes of the thesis Table 5-1.
        weights: ``"imagenet"`` (Keras download), ``"none"``, or the path of a local weights file
            for the backbone (offline clusters). Ignored by the from-scratch baselines.
        input_size: side in pixels of the backbone input made by the upsampling stem.
        dense_units: width of the head's dense layer.
        pool_dropout: dropout rate after global pooling.
        dense_dropout: dropout rate after the dense + batch-norm block.
        head: ``"classifier"`` (2-way softmax), ``"mvn_full"``, ``"mvn_diag"`` or ``"mse"``.
        targets: lens parameters predicted by regression heads, names from the simulator.
    """

    backbone: str = "xception"
    regime: str = "frozen"
    weights: str = "imagenet"
    input_size: int = 200
    dense_units: int = 256
    pool_dropout: float = 0.3
    dense_dropout: float = 0.3
    head: str = "classifier"
    targets: tuple[str, ...] = ("theta_e", "e1", "e2", "center_x", "center_y", "magnification")

    def __post_init__(self):
        check_choice("model.regime", self.regime, REGIMES)
        check_choice("model.head", self.head, HEAD_KINDS)
        if not isinstance(self.weights, str) or not self.weights:
            fail("model.weights", self.weights, "'imagenet', 'none' or a weights-file path")
        if isinstance(self.input_size, bool) or not isinstance(self.input_size, int):
            fail("model.input_size", self.input_size, "an integer number of pixels")
        check_range("model.input_size", self.input_size, 32, 1024)
        check_range("model.dense_units", self.dense_units, 1, 65536)
        check_range("model.pool_dropout", self.pool_dropout, 0.0, 1.0, hi_open=True)
        check_range("model.dense_dropout", self.dense_dropout, 0.0, 1.0, hi_open=True)
        if not self.targets or not all(isinstance(t, str) for t in self.targets):
            fail("model.targets", self.targets, "a non-empty list of parameter names")
        if len(set(self.targets)) != len(self.targets):
            fail("model.targets", self.targets, "parameter names without repeats")
