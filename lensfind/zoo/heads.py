"""The head registry: what sits on the backbone's features, and how it is trained.

``HEADS`` maps a name (``ModelConfig.head``) to a :class:`~lensfind.zoo.trunk.HeadSpec`:
``"classifier"`` (lens / non-lens, 2-way softmax, defined here), ``"softmax"`` (K classes, K given
as ``n_targets``, defined here) and the regression heads
``"mvn_full"``, ``"mvn_diag"``, ``"mse"`` (:mod:`lensfind.zoo.regression_heads`). Its keys are
:data:`lensfind.zoo.config.HEAD_KINDS` (a test keeps them equal). A head is added like this::

    HEADS["mse"] = HeadSpec(
        builder=lambda features, n, config: keras.layers.Dense(n, name="head_output")(
            head_trunk(features, config)),
        n_outputs=lambda n: n,
        loss=lambda n: keras.losses.MeanSquaredError(),
        metrics=lambda n: [keras.metrics.MeanAbsoluteError(name="mae")],
        needs_targets=True)
"""
from __future__ import annotations

import keras
from keras import ops

from lensfind.zoo.config import ModelConfig
from lensfind.zoo.layers import PACKAGE
from lensfind.zoo.regression_heads import REGRESSION_HEAD_SPECS
from lensfind.zoo.trunk import HeadSpec, head_trunk


@keras.saving.register_keras_serializable(package=PACKAGE)
class LensAUC(keras.metrics.AUC):
    """ROC AUC of a 2-way softmax against integer labels (1 = lens): scores ``y_pred[:, 1]``."""

    def __init__(self, name: str = "auc", **kwargs):
        kwargs.setdefault("num_thresholds", 500)
        super().__init__(name=name, **kwargs)

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(y_true, "float32"), (-1,))
        score = ops.reshape(y_pred[..., -1], (-1,))
        return super().update_state(y_true, score, sample_weight=sample_weight)


def _classifier(features, n_targets, config: ModelConfig):
    del n_targets
    x = head_trunk(features, config)
    return keras.layers.Dense(2, activation="softmax", dtype="float32", name="head_output")(x)


def _softmax(features, n_targets, config: ModelConfig):
    x = head_trunk(features, config)
    return keras.layers.Dense(int(n_targets), activation="softmax", dtype="float32",
                              name="head_output")(x)


#: name -> spec; ``ModelConfig.head`` picks one.
HEADS: dict[str, HeadSpec] = {
    "classifier": HeadSpec(
        builder=_classifier,
        n_outputs=lambda n_targets: 2,
        loss=lambda n_targets: keras.losses.SparseCategoricalCrossentropy(),
        metrics=lambda n_targets: [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                                   LensAUC(name="auc")],
        description="P(non-lens), P(lens): 2-way softmax on integer labels (1 = lens)"),
    "softmax": HeadSpec(
        builder=_softmax,
        n_outputs=lambda n_targets: int(n_targets),
        loss=lambda n_targets: keras.losses.SparseCategoricalCrossentropy(),
        metrics=lambda n_targets: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        needs_targets=True,
        description="P(class k), k = 0..K-1: K-way softmax on integer class labels"),
    **REGRESSION_HEAD_SPECS,
}
