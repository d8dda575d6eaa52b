"""What every head shares: :class:`HeadSpec` (a registry entry) and :func:`head_trunk` (layers).

The trunk's dropout layers are :class:`~lensfind.zoo.layers.MCDropout`, so every head can be
sampled with Monte-Carlo dropout (:mod:`lensfind.zoo.sampling`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from lensfind.zoo.config import ModelConfig
from lensfind.zoo.layers import MCDropout


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
