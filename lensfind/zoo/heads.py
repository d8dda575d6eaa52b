"""The head registry: what sits on the backbone's features, and how it is trained.

``HEADS`` maps a name (``ModelConfig.head``) to a :class:`HeadSpec`. This module registers
``"classifier"`` (lens / non-lens, 2-way softmax); the regression heads (``"mvn_full"``,
``"mvn_diag"``, ``"mse"``) are added to ``HEADS`` by :mod:`lensfind.zoo.regression_heads`
(imported by :mod:`lensfind.zoo.model`). A head is registered like this::

    HEADS["mse"] = HeadSpec(
        builder=lambda features, n, config: keras.layers.Dense(n, name="head_output")(
            head_trunk(features, config)),
        n_outputs=lambda n: n,
        loss=lambda n: keras.losses.MeanSquaredError(),
        metrics=lambda n: [keras.metrics.MeanAbsoluteError(name="mae")],
        needs_targets=True)

:func:`head_trunk` is the shared part (pooling, dropout, dense, batch norm, activation, dropout);
its dropout layers are :class:`~lensfind.zoo.layers.MCDropout`, so every head can be sampled with
Monte-Carlo dropout (:func:`~lensfind.zoo.layers.set_mc_dropout`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras
from keras import ops

from lensfind.zoo.config import ModelConfig
from lensfind.zoo.layers import PACKAGE, MCDropout


@dataclasses.dataclass(frozen=True)
class HeadSpec:
    """One head: its layers, output width, loss and metrics.

    Attributes:
        builder: ``builder(features, n_targets, config) -> outputs``: symbolic Keras tensors in,
            the model output out (``features`` is the backbone output, 4-D or 2-D).
        n_outputs: ``n_outputs(n_targets) -> int``, width of the output for ``n_targets``
            regression targets (``None`` for the classifier).
        loss: factory ``loss(n_targets) ->`` anything ``Model.compile(loss=...)`` accepts.
        metrics: factory ``metrics(n_targets) -> list`` of fresh metric objects.
        needs_targets: regression head (``build_model`` then needs ``n_targets``).
        description: one line for the docs.
    """

    builder: Callable[[Any, int | None, ModelConfig], Any]
    n_outputs: Callable[[int | None], int]
    loss: Callable[[int | None], Any]
    metrics: Callable[[int | None], list]
    needs_targets: bool = False
    description: str = ""


def head_trunk(features, config: ModelConfig, *, name: str = "head"):
    """Pooling, dropout, dense, batch norm, activation, dropout -- every head starts with it.

    A 4-D feature map is reduced by global average pooling, a 2-D vector (baselines) is kept.
    The rates are ``config.pool_dropout`` and ``config.dense_dropout``; the dense block
    (``config.dense_units`` wide, ``config.activation``) is left out when ``dense_units`` is 0.
    """
    x = features
    if len(x.shape) == 4:
        x = keras.layers.GlobalAveragePooling2D(name=f"{name}_pool")(x)
    elif len(x.shape) != 2:
        x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = MCDropout(config.pool_dropout, name=f"{name}_pool_dropout")(x)
    if config.dense_units > 0:
        x = keras.layers.Dense(config.dense_units, use_bias=False, name=f"{name}_dense")(x)
        x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
        x = keras.layers.Activation(config.activation, name=f"{name}_activation")(x)
        x = MCDropout(config.dense_dropout, name=f"{name}_dense_dropout")(x)
    return x


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


#: name -> spec; ``ModelConfig.head`` picks one.
HEADS: dict[str, HeadSpec] = {
    "classifier": HeadSpec(
        builder=_classifier,
        n_outputs=lambda n_targets: 2,
        loss=lambda n_targets: keras.losses.SparseCategoricalCrossentropy(),
        metrics=lambda n_targets: [keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                                   LensAUC(name="auc")],
        description="P(non-lens), P(lens): 2-way softmax on integer labels (1 = lens)"),
}
