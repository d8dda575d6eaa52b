"""Optuna pruning for Keras 3 models.

``optuna_integration.KerasPruningCallback`` subclasses ``tf.keras.callbacks.Callback`` (Keras 2,
the ``tf_keras`` package), which a Keras 3 ``Model.fit`` does not accept; this is the Keras 3
version. Multi-objective studies cannot prune (Optuna's ``Trial.report`` refuses them), so there
the callback only records the monitored value as a trial attribute and never stops a fit.
"""
from __future__ import annotations

from typing import Any

import keras
import optuna


def can_prune(trial: Any) -> bool:
    """True when ``trial`` belongs to a single-objective study (or is a ``FixedTrial``)."""
    study = getattr(trial, "study", None)
    return study is None or len(study.directions) == 1


class KerasPruningCallback(keras.callbacks.Callback):
    """Report ``monitor`` to an Optuna trial after every epoch; stop and prune when told.

    Each ``fit`` this callback is passed to is one stage (a CV fold, or the single hold-out
    fit); the value of epoch ``e`` of stage ``s`` is reported at step
    ``s * epochs_per_stage + e`` so that a pruner compares the same fold and epoch across
    trials.

    Args:
        trial: the running ``optuna.trial.Trial``.
        monitor: key of the Keras logs, e.g. ``"val_auc"`` or ``"val_loss"``.
        epochs_per_stage: maximum epochs of one fit (the experiment's ``train.epochs``).
        raise_pruned: raise :class:`optuna.TrialPruned` from ``on_epoch_end`` (stops the CV at
            once); with ``False`` the fit only stops and :attr:`pruned` is set, and the caller
            raises after cleaning up (see :meth:`raise_if_pruned`).

    Raises:
        KeyError: at the end of an epoch whose logs lack ``monitor`` (the message lists the
            keys there are), so a misspelt monitor fails the first trial instead of never
            pruning.
    """

    def __init__(self, trial: Any, monitor: str, *, epochs_per_stage: int = 0,
                 raise_pruned: bool = True):
        super().__init__()
        self.trial = trial
        self.monitor = monitor
        self.epochs_per_stage = int(epochs_per_stage)
        self.raise_pruned = raise_pruned
        self.stage = -1
        self.pruned = False
        self.reported: list[tuple[int, float]] = []
        self._enabled = can_prune(trial)

    def on_train_begin(self, logs=None):
        self.stage += 1

    def step(self, epoch: int) -> int:
        """The Optuna step of ``epoch`` (0-based) in the current stage."""
        return max(self.stage, 0) * self.epochs_per_stage + int(epoch)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"pruning monitor {self.monitor!r} is not in the Keras logs; "
                           f"the logs have {', '.join(sorted(logs)) or 'nothing'}")
        value = float(logs[self.monitor])
        step = self.step(epoch)
        self.reported.append((step, value))
        if not self._enabled:
            return
        # a NaN (diverged) value is reported too: Optuna's pruners prune it
        self.trial.report(value, step)
        if self.trial.should_prune():
            self.pruned = True
            self.model.stop_training = True
            if self.raise_pruned:
                raise optuna.TrialPruned(
                    f"trial pruned at step {step} (stage {self.stage}, epoch {epoch}): "
                    f"{self.monitor} = {value:.5g}")

    def raise_if_pruned(self) -> None:
        """Raise :class:`optuna.TrialPruned` if a fit was stopped by the pruner."""
        if self.pruned:
            raise optuna.TrialPruned(f"trial pruned ({self.monitor}, last step "
                                     f"{self.reported[-1][0] if self.reported else '-'})")
