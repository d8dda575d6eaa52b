"""The Task protocol: everything that differs between learning problems, in one object.

A task owns what to learn from a data set and how to judge it: which images take part and how
folds are stratified, the targets (and how augmentation changes them), the heads it accepts,
what a fold predicts and writes, its metrics and summary tables, its plots, what ``lensfind
tune`` optimises by default, and the columns it adds to a scoring table. The engines --
cross-validation (:mod:`lensfind.train.cv`), tuning (:mod:`lensfind.tune`), sweeps and scoring
(:mod:`lensfind.score`) -- never compare task names; they call these hooks.

A new task is one module in this package with one subclass of :class:`Task`, added to
:data:`lensfind.tasks.TASKS`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.validation import fail


@dataclasses.dataclass
class FoldContext:
    """Everything a task hook may need about one fit.

    ``train``/``val``/``test`` are indices into ``dataset``; ``folder`` is the fold directory
    (a task may keep files there, e.g. predictions for its summary).
    """

    exp: Any
    dataset: Any
    fold: int
    k: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    folder: Path


class Task:
    """Base class of a task. Subclass it, set the attributes, implement the hooks.

    Attributes:
        name: the ``experiment.task`` value.
        heads: ``model.head`` values allowed for this task.
        metrics: fold-metric keys summarised as mean +- std over folds, in table order.
        headers: metric key -> column header of the Markdown table.
        headline: the metric named in progress lines and used to sort comparisons.
        monitor, mode: what early stopping (and pruning, by default) watches.
        summary_note: the caption under the cross-validation table.
        tune_objectives: ``[tune] objectives`` when the file gives none.
        tune_objective_choices: objectives this task can compute (empty: any of
            :data:`lensfind.config.tune.OBJECTIVES`).
        tune_monitor: ``[tune] monitor`` (Keras log key for pruning) when the file gives none.
        committee_columns: score columns pooled over all scoring members of this task.
    """

    name = "task"
    heads: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    headers: Mapping[str, str] = {}
    headline = "loss"
    monitor = "val_loss"
    mode = "min"
    summary_note = "Mean ± standard deviation over the test folds."
    tune_objectives: tuple[str, ...] = ("val_loss",)
    tune_objective_choices: tuple[str, ...] = ()
    tune_monitor = "val_loss"
    committee_columns: tuple[str, ...] = ()

    # ---------------------------------------------------------------------- configuration
    def check_config(self, exp) -> None:
        """Refuse settings that cannot work for this task (before loading data)."""
        if self.heads and exp.model.head not in self.heads:
            fail("model.head", exp.model.head, f"one of {', '.join(map(repr, self.heads))} for "
                 f"experiment.task = {self.name!r}")

    def n_targets(self, exp) -> int | None:
        """Targets the head predicts (``None``: the head decides, e.g. a classifier)."""
        return None

    # ------------------------------------------------------------------------------- data
    def select(self, exp, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indices, strata, groups)``: images used, labels to stratify on and groups (all
        arrays of length N except ``indices``). Refuse unusable data here."""
        raise NotImplementedError

    def train_targets(self, ctx: FoldContext):
        """``(targets, label_fn)`` for :class:`~lensfind.data.sequence.AugmentedSequence`."""
        raise NotImplementedError

    def validation_targets(self, ctx: FoldContext) -> np.ndarray:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ a fold
    def prepare_model(self, ctx: FoldContext, model):
        """Adjust a freshly built, compiled model for this fold (e.g. store the training fold's
        target whitening and recompile); called only when the fold does not resume."""
        return model

    def predict(self, ctx: FoldContext, model) -> dict[str, np.ndarray]:
        """Columns of ``oof.csv`` (one value per test image) from the final model."""
        raise NotImplementedError

    def fold_metrics(self, ctx: FoldContext, columns: Mapping[str, np.ndarray]
                     ) -> dict[str, float]:
        raise NotImplementedError

    # ---------------------------------------------------------------------------- summary
    def pooled_metrics(self, oof: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Metrics of all out-of-fold predictions together (``oof`` as read from the CSVs)."""
        return {}

    def plots(self, run_path: Path, title: str, oof: Mapping[int, Mapping[str, np.ndarray]],
              out: Path) -> list[Path]:
        """Task plots (and tables) of a run besides the learning curves; the files written."""
        return []

    def sweep_plots(self, runs: Sequence[tuple[Any, Path]], path: Path, name: str
                    ) -> list[Path]:
        """A plot across the finished runs ``[(swept value, run dir)]`` of a sweep."""
        return []

    # ----------------------------------------------------------------------------- tuning
    def objective_scales(self, exp, dataset) -> dict[str, float]:
        """Scales that make this task's tuning objectives comparable across targets."""
        return {}

    # ---------------------------------------------------------------------------- scoring
    def member_targets(self, exp, models: Sequence[Any]) -> tuple[str, ...]:
        """Check the fold models of a scoring member (a run of experiment ``exp``); return the
        names its columns are made of (targets, classes; may be empty).

        Raises:
            ValueError: a model whose outputs do not fit this task (the message says why).
        """
        return ()

    def score_columns(self, label: str, targets: Sequence[str]) -> list[str]:
        """Columns one scoring member adds, in order."""
        raise NotImplementedError

    def score_values(self, label: str, targets: Sequence[str], head: str,
                     samples: np.ndarray) -> dict[str, np.ndarray]:
        """Values of :meth:`score_columns` from a member's samples ``(S, n, k)``."""
        raise NotImplementedError

    def member_scales(self, run_dir: Path) -> np.ndarray | None:
        """Factors ``lensfind score --recalibrate`` applies to a member of this task (fitted on
        the run's validation splits); None: the task has nothing to recalibrate."""
        return None

    def recalibrate(self, label: str, targets: Sequence[str], values: dict[str, np.ndarray],
                    scales: np.ndarray) -> None:
        """Apply :meth:`member_scales` to a member's :meth:`score_values`, in place."""

    def committee_values(self, samples: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Values of :attr:`committee_columns` from every member's samples."""
        return {}
