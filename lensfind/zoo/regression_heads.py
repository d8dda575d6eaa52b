"""Regression heads for lens parameters: ``mvn_full``, ``mvn_diag`` and ``mse``.

:data:`REGRESSION_HEAD_SPECS` holds the three heads (entries of :data:`lensfind.zoo.heads.HEADS`).
Each is ``head_trunk`` (pooling, MC dropout, dense, batch norm,
MC dropout) -> ``Dense(n_outputs)`` named ``head_raw`` (whitened units) -> :class:`TargetScaling`
named ``head_output`` (target units). The output layout is that of
:mod:`lensfind.probabilistic`; the loss is eq. (2) of the covariance paper
(:class:`GaussianLoss`).

Whitening lives *inside* the model: :class:`TargetScaling` holds the training fold's mean and
standard deviation of every target as (non-trainable) weights, saved in the ``.keras`` file with
the target names, and maps the whitened head outputs to target units:

    mean  -> mean * std + mu,     log_diag -> bound(log_diag) - log(std),     off -> bound(off).

Targets are therefore given to ``fit`` in their own units, and the model predicts in them. For
the Gaussian heads the loss in target units differs from the whitened loss by the constant
``sum(log std)`` only (same gradients); the ``mse`` loss divides residuals by ``std`` (its
``scale``, set by :func:`regression_loss` from the model), i.e. it is the MSE of whitened
targets. Set the statistics with :func:`set_target_scaling` before training.
"""
from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from lensfind import probabilistic as P
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.layers import PACKAGE
from lensfind.zoo.trunk import HeadSpec, head_trunk

RAW_LAYER = "head_raw"
OUTPUT_LAYER = "head_output"


@keras.saving.register_keras_serializable(package=PACKAGE)
class TargetScaling(keras.layers.Layer):
    """Whitened head outputs -> target units, with the bounds of :mod:`lensfind.probabilistic`.

    Args:
        head: ``"mvn_full"``, ``"mvn_diag"`` or ``"mse"``.
        names: target names (their number is ``n``).

    Weights (non-trainable, saved with the model): ``target_mean`` and ``target_std`` (n,),
    initially 0 and 1 (no whitening).
    """

    def __init__(self, head: str, names: Sequence[str], **kwargs):
        super().__init__(**kwargs)
        P._check_head(head)
        self.head = head
        self.names = tuple(str(n) for n in names)
        if not self.names:
            raise ValueError("TargetScaling needs at least one target name")
        self.n = len(self.names)
        self.target_mean = self.add_weight(shape=(self.n,), initializer="zeros",
                                           trainable=False, name="target_mean")
        self.target_std = self.add_weight(shape=(self.n,), initializer="ones",
                                          trainable=False, name="target_std")

    def call(self, raw):
        n = self.n
        mean, log_diag, off = P.split_output(raw, self.head, n)
        parts = [mean * ops.cast(self.target_std, raw.dtype) + ops.cast(self.target_mean, raw.dtype)]
        if log_diag is not None:
            parts.append(P.soft_bound(log_diag, P.LOG_DIAG_LIMIT)
                         - ops.log(ops.cast(self.target_std, raw.dtype)))
        if off is not None and n > 1:
            parts.append(P.soft_bound(off, P.OFF_DIAG_LIMIT))
        return parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def set_statistics(self, mean, std) -> None:
        mean = np.asarray(mean, np.float64).reshape(-1)
        std = np.asarray(std, np.float64).reshape(-1)
        if mean.shape != (self.n,) or std.shape != (self.n,):
            raise ValueError(f"target statistics of shapes {mean.shape}, {std.shape} for "
                             f"{self.n} targets {list(self.names)}")
        if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
            raise ValueError(f"target statistics must be finite with std > 0; received mean "
                             f"{mean.tolist()}, std {std.tolist()} for {list(self.names)}")
        self.target_mean.assign(mean.astype("float32"))
        self.target_std.assign(std.astype("float32"))

    def get_config(self):
        config = super().get_config()
        config.update(head=self.head, names=list(self.names))
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class GaussianLoss(keras.losses.Loss):
    """Eq. (2) of the covariance paper per image, averaged over the batch (keras.ops).

    Args:
        head: regression head name.
        n_targets: number of targets.
        scale: (n,) residual scale for ``mse`` (the training std; 1 when ``None``): the loss is
            then ``1/2 sum((r / scale)^2)``; unused by the Gaussian heads.
    """

    def __init__(self, head: str = "mvn_full", n_targets: int = 1, scale=None,
                 name: str | None = None, **kwargs):
        super().__init__(name=name or ("whitened_mse" if head == "mse" else f"{head}_nll"),
                         **kwargs)
        P._check_head(head)
        self.head = head
        self.n_targets = int(n_targets)
        self.scale = None if scale is None else [float(s) for s in np.ravel(scale)]
        if self.scale is not None and len(self.scale) != self.n_targets:
            raise ValueError(f"{len(self.scale)} scales for {self.n_targets} targets")

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.head == "mse" and self.scale is not None:
            s = ops.convert_to_tensor(np.asarray(self.scale, "float32"), dtype=y_pred.dtype)
            return P.gaussian_nll(y_true / s, y_pred / s, head="mse", n=self.n_targets)
        return P.gaussian_nll(y_true, y_pred, head=self.head, n=self.n_targets)

    def get_config(self):
        config = super().get_config()
        config.update(head=self.head, n_targets=self.n_targets, scale=self.scale)
        return config


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanAbsoluteWhitenedError(keras.metrics.MeanMetricWrapper):
    """Mean over targets of ``|mean - y| / scale`` (scale = training std; 1 when ``None``)."""

    def __init__(self, n_targets: int = 1, scale=None, name: str = "mae_whitened", **kwargs):
        self.n_targets = int(n_targets)
        self.scale = None if scale is None else [float(s) for s in np.ravel(scale)]
        s = np.ones(self.n_targets, "float32") if scale is None else np.asarray(self.scale, "float32")
        n = self.n_targets

        def fn(y_true, y_pred):
            r = ops.abs(ops.cast(y_true, y_pred.dtype) - y_pred[..., :n])
            return ops.mean(r / ops.convert_to_tensor(s, dtype=y_pred.dtype), axis=-1)

        super().__init__(fn, name=name, **kwargs)

    def get_config(self):
        return {"n_targets": self.n_targets, "scale": self.scale, "name": self.name,
                "dtype": self.dtype}


def target_names(config: ModelConfig, n_targets: int | None) -> tuple[str, ...]:
    names = tuple(config.targets)
    if n_targets is None or n_targets == len(names):
        return names
    return tuple(f"y{i}" for i in range(n_targets))


def _builder(head: str):
    def build(features, n_targets, config: ModelConfig):
        n = len(config.targets) if n_targets is None else int(n_targets)
        x = head_trunk(features, config)
        raw = keras.layers.Dense(P.n_outputs(head, n), dtype="float32", name=RAW_LAYER,
                                 kernel_initializer=keras.initializers.VarianceScaling(0.01))(x)
        return TargetScaling(head, target_names(config, n), dtype="float32",
                             name=OUTPUT_LAYER)(raw)
    return build


def scaling_layer(model: keras.Model) -> TargetScaling:
    """The :class:`TargetScaling` layer of a regression model (``ValueError`` if none)."""
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, TargetScaling):
            return layer
    raise ValueError(f"model {model.name!r} has no TargetScaling layer: it is not a lensfind "
                     f"regression model (heads {', '.join(P.REGRESSION_HEADS)})")


def set_target_scaling(model: keras.Model, mean, std) -> None:
    """Store the training fold's target mean and std (n,) in ``model``."""
    scaling_layer(model).set_statistics(mean, std)


def target_scaling(model: keras.Model) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """``(names, mean, std)`` stored in a regression model."""
    layer = scaling_layer(model)
    return (layer.names, np.asarray(layer.target_mean.numpy(), np.float64),
            np.asarray(layer.target_std.numpy(), np.float64))


def regression_loss(model: keras.Model) -> GaussianLoss:
    """The loss for ``model`` (the ``mse`` scale read from its stored target std)."""
    layer = scaling_layer(model)
    _, _, std = target_scaling(model)
    return GaussianLoss(layer.head, layer.n, scale=std if layer.head == "mse" else None)


def regression_metrics(model: keras.Model) -> list:
    layer = scaling_layer(model)
    _, _, std = target_scaling(model)
    return [MeanAbsoluteWhitenedError(layer.n, scale=std)]


_DESCRIPTIONS = {
    "mvn_full": "Gaussian with full covariance: n means + n(n+1)/2 log-Cholesky precision "
                "entries, loss eq. (2) of the covariance paper",
    "mvn_diag": "Gaussian with diagonal covariance: n means + n log precision scales, loss eq. (2)",
    "mse": "n means, mean squared error of whitened targets (no predicted covariance)",
}

#: head name -> spec, for :data:`lensfind.zoo.heads.HEADS`
REGRESSION_HEAD_SPECS: dict[str, HeadSpec] = {
    head: HeadSpec(
        builder=_builder(head),
        n_outputs=(lambda h: lambda n: P.n_outputs(h, n))(head),
        loss=(lambda h: lambda n: GaussianLoss(h, n))(head),
        metrics=(lambda n: [MeanAbsoluteWhitenedError(n)]),
        needs_targets=True,
        description=_DESCRIPTIONS[head])
    for head in P.REGRESSION_HEADS
}
