"""The ``[tune]`` table of an experiment file: what ``lensfind tune`` searches and how.

Example (see ``experiments/tune-dropout.toml``)::

    [tune]
    mode = "holdout"            # or "cv": the experiment's k-fold cross-validation per trial
    objectives = ["auc"]        # lens finding; regression: ["nll"], ["calibration"], ...
    dropout = [0.0, 0.7]        # range searched for every dropout rate of the head
    learning_rate = [1e-5, 1e-3]  # optional: log-uniform learning rate
    dense_units = [128, 256, 512] # optional: width of the head's dense layer
"""
from __future__ import annotations

import dataclasses

from lensfind.validation import check_choice, check_interval, check_range, fail

MODES = ("holdout", "cv")
#: objective name -> optimisation direction.
OBJECTIVES = {
    "auc": "maximize",          # ROC AUC on the validation images (lens finding)
    "val_loss": "minimize",     # the model's own loss on the validation images
    "nll": "minimize",          # mean negative log-likelihood of the lens parameters
    "calibration": "minimize",  # mean |coverage - nominal| over the 1, 2, 3 sigma intervals
    "error68": "minimize",      # mean 68 % absolute error of the lens parameters (scaled)
}
SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "hyperband", "none")


@dataclasses.dataclass(frozen=True)
class TuneConfig:
    """How ``lensfind tune`` searches the dropout rates (and optionally more) of an experiment.

    Attributes:
        mode: ``"holdout"`` trains once per trial on a fixed stratified train/validation split
            (fast), ``"cv"`` runs the experiment's k-fold cross-validation per trial.
        objectives: names from ``OBJECTIVES``; empty means ``["auc"]`` for lens finding and
            ``["nll"]`` for regression. Two or more make a multi-objective (Pareto) study,
            which cannot prune.
        n_trials: trials the study should hold when finished (``--n-trials`` overrides).
        dropout: ``[low, high]`` range searched for every dropout rate in ``params``.
        params: dropout fields of ``[model]`` to tune; empty means every field of the model
            table whose name contains ``dropout`` (head and MC-dropout rates).
        learning_rate: ``[low, high]`` log-uniform range of the learning rate; empty: not tuned.
        dense_units: choices of the head's dense width; empty: not tuned.
        sampler: ``"tpe"`` (multivariate, constant liar for parallel workers) or ``"random"``.
        pruner: ``"median"``, ``"hyperband"`` or ``"none"``; ignored for multi-objective studies.
        startup_trials: trials sampled at random before TPE starts (and before pruning).
        warmup_epochs: epochs a trial always runs before it can be pruned.
        holdout_fraction: validation share of the fixed split in ``"holdout"`` mode.
        folds: which CV folds to run in ``"cv"`` mode (0-based); empty means all.
        monitor: Keras log key reported each epoch for pruning; empty means ``"val_auc"`` for
            lens finding and ``"val_loss"`` for regression.
        workers: worker processes (``--workers`` overrides).
        storage: Optuna storage URL; empty means ``sqlite:///runs/<name>/tune/study.db``.
        heartbeat_interval: seconds between a running trial's heartbeats.
        grace_period: seconds without heartbeat after which a trial's worker counts as dead and
            the trial is queued again with the same parameters.
        max_retry: how often one trial is retried after its worker died.
    """

    mode: str = "holdout"
    objectives: tuple[str, ...] = ()
    n_trials: int = 20
    dropout: tuple[float, float] = (0.0, 0.7)
    params: tuple[str, ...] = ()
    learning_rate: tuple[float, ...] = ()
    dense_units: tuple[int, ...] = ()
    sampler: str = "tpe"
    pruner: str = "median"
    startup_trials: int = 5
    warmup_epochs: int = 1
    holdout_fraction: float = 0.2
    folds: tuple[int, ...] = ()
    monitor: str = ""
    workers: int = 1
    storage: str = ""
    heartbeat_interval: int = 10
    grace_period: int = 60
    max_retry: int = 3

    def __post_init__(self):
        check_choice("tune.mode", self.mode, MODES)
        for name in self.objectives:
            check_choice("tune.objectives", name, OBJECTIVES)
        if len(set(self.objectives)) != len(self.objectives):
            fail("tune.objectives", list(self.objectives), "objective names without repeats")
        for name in ("n_trials", "startup_trials", "warmup_epochs", "workers",
                     "heartbeat_interval", "grace_period", "max_retry"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"tune.{name}", value, "an integer")
        check_range("tune.n_trials", self.n_trials, 1)
        check_range("tune.startup_trials", self.startup_trials, 0)
        check_range("tune.warmup_epochs", self.warmup_epochs, 0)
        check_range("tune.workers", self.workers, 1, 256)
        check_range("tune.heartbeat_interval", self.heartbeat_interval, 1)
        check_range("tune.grace_period", self.grace_period, 1)
        check_range("tune.max_retry", self.max_retry, 0)
        if self.grace_period <= self.heartbeat_interval:
            fail("tune.grace_period", self.grace_period,
                 f"more seconds than tune.heartbeat_interval = {self.heartbeat_interval}")
        check_interval("tune.dropout", self.dropout, 0.0, 1.0, hi_open=True)
        if not all(isinstance(p, str) and p for p in self.params):
            fail("tune.params", list(self.params), "a list of [model] field names")
        if self.learning_rate:
            check_interval("tune.learning_rate", self.learning_rate, 0.0, 1.0, lo_open=True)
        for units in self.dense_units:
            if isinstance(units, bool) or not isinstance(units, int) or units < 1:
                fail("tune.dense_units", list(self.dense_units), "a list of positive integers")
        check_choice("tune.sampler", self.sampler, SAMPLERS)
        check_choice("tune.pruner", self.pruner, PRUNERS)
        check_range("tune.holdout_fraction", self.holdout_fraction, 0.0, 0.9, lo_open=True)
        for k in self.folds:
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                fail("tune.folds", list(self.folds), "a list of 0-based fold numbers")
        if not isinstance(self.monitor, str):
            fail("tune.monitor", self.monitor, "a Keras log key such as 'val_loss'")
        if not isinstance(self.storage, str):
            fail("tune.storage", self.storage, "an Optuna storage URL or ''")

    def objective_names(self, task) -> tuple[str, ...]:
        """The objectives of this study for ``task`` (a :class:`~lensfind.tasks.base.Task`):
        ``objectives``, else the task's defaults; names the task cannot compute are refused."""
        names = self.objectives or task.tune_objectives
        for name in names:
            if task.tune_objective_choices:
                check_choice("tune.objectives", name, task.tune_objective_choices)
        return tuple(names)

    def directions(self, task) -> list[str]:
        """Optuna directions (``"maximize"``/``"minimize"``), one per objective."""
        return [OBJECTIVES[name] for name in self.objective_names(task)]

    def monitor_key(self, task) -> str:
        """Keras log key reported to the pruner each epoch (``monitor``, else the task's)."""
        return self.monitor or task.tune_monitor
