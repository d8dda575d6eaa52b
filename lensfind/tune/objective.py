"""Objective functions: an Optuna trial -> the objective values of the configuration it suggests.

:class:`KerasObjective` trains the experiment's network on the suggested configuration, either on
a fixed stratified train/validation split (``[tune] mode = "holdout"``, fast) or with the
experiment's k-fold cross-validation (``mode = "cv"``), and reads the objectives off the
validation predictions: ``auc`` (lens finding), ``nll``, ``calibration`` (mean distance of the 1,
2, 3 sigma coverage from 68.3/95.4/99.7 %), ``error68`` and ``val_loss``.

:class:`SyntheticObjective` has the same search space and reporting but a closed-form "validation
curve" instead of a network: it exercises storage, workers, pruning and reports in seconds.
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import optuna

from lensfind.config import Experiment
from lensfind.data.build import load_dataset
from lensfind.evaluate.calibration import EXPECTED_COVERAGE
from lensfind.tasks import get_task
from lensfind.train.cv import run_cv
from lensfind.tune.holdout import holdout_fit
from lensfind.tune.pruning import KerasPruningCallback
from lensfind.tune.space import suggest_config, tuned_params
from lensfind.tune.storage import study_dir


def objective_values(names: Sequence[str], metrics: Mapping[str, float]) -> float | list[float]:
    """Pick the objectives out of a metrics dict: one float, or a list for several objectives.

    Raises:
        KeyError: a named objective is missing from ``metrics`` (lists what there is).
    """
    missing = [n for n in names if n not in metrics]
    if missing:
        raise KeyError(f"objective(s) {', '.join(missing)} not among the trial's metrics "
                       f"{', '.join(sorted(metrics))}")
    values = [float(metrics[n]) for n in names]
    return values[0] if len(values) == 1 else values


class SyntheticObjective:
    """A cheap closed-form objective on the real search space (no network).

    Every dropout rate ``p`` (and the learning rate, if searched) is suggested exactly as for
    the real objective; the "validation metrics" are smooth functions of them, best near
    ``p = 0.3``, approached over ``epochs`` reported steps (so pruning is exercised), with
    ``seconds`` of sleep spread over the epochs so that trials overlap between workers.
    The calibration objective prefers more dropout than the AUC does, which makes a
    two-objective study have a real Pareto front.
    """

    def __init__(self, exp: Experiment, *, seconds: float = 0.0, epochs: int = 4, **_):
        self.exp = exp
        self.seconds = float(seconds)
        self.epochs = int(epochs)
        self.names = exp.tune.objective_names(get_task(exp.experiment.task))

    def metrics(self, config: Experiment, epoch: int) -> dict[str, float]:
        rates = [getattr(config.model, n) for n in tuned_params(self.exp)]
        spread = sum((p - 0.3) ** 2 for p in rates) / len(rates)
        if self.exp.tune.learning_rate:
            spread += 0.01 * math.log10(config.train.learning_rate / 1e-4) ** 2
        quality = math.exp(-4.0 * spread)
        progress = 1.0 - math.exp(-(epoch + 1) / 1.5)
        auc = 0.5 + 0.45 * quality * progress
        mean_rate = sum(rates) / len(rates)
        return {"auc": auc, "val_auc": auc, "val_loss": 1.2 - 0.9 * quality * progress,
                "nll": 3.0 - 2.0 * quality * progress,
                "calibration": abs(mean_rate - 0.5) * 0.2 + 0.02,
                "error68": 0.2 - 0.1 * quality * progress}

    def __call__(self, trial: optuna.Trial) -> float | list[float]:
        config = suggest_config(trial, self.exp)
        single = len(self.names) == 1
        monitor = self.exp.tune.monitor_key(get_task(self.exp.experiment.task))
        metrics: dict[str, float] = {}
        for epoch in range(self.epochs):
            if self.seconds:
                time.sleep(self.seconds / self.epochs)
            metrics = self.metrics(config, epoch)
            if single and hasattr(trial, "study"):
                trial.report(metrics[monitor], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at epoch {epoch}")
        return objective_values(self.names, metrics)


def make_objective(spec: Any):
    """The objective a :class:`~lensfind.tune.workers.WorkerSpec` names."""
    options = dict(spec.objective_options)
    if spec.objective == "synthetic":
        return SyntheticObjective(spec.experiment, **options)
    if spec.objective == "keras":
        return KerasObjective(spec.experiment, runs_dir=spec.runs_dir, **options)
    raise ValueError(f"unknown objective {spec.objective!r}: expected one of keras, synthetic")


def _history_min(path: Path, key: str) -> float:
    """Smallest ``key`` in a ``history.csv`` (NaN if absent)."""
    import csv
    if not path.is_file():
        return math.nan
    with path.open(newline="") as handle:
        values = [float(row[key]) for row in csv.DictReader(handle) if row.get(key)]
    return min(values) if values else math.nan


def objectives_from_metrics(names: Sequence[str], metrics: Mapping[str, Any],
                            history: Path | None = None,
                            scales: Mapping[str, float] | None = None) -> dict[str, float]:
    """The objective values of one fit from its task metrics (and ``history.csv``).

    ``auc`` = ``roc_auc``; ``nll`` = ``nll``; ``calibration`` = mean over k = 1, 2, 3 of
    ``|coverage_{k}sigma - P(k sigma)|`` (68.27, 95.45, 99.73 %); ``error68`` = mean over
    parameters of the 68 % error divided by ``scales[param]`` (the spread of the parameter in
    the data set, so that arcsec and dimensionless parameters weigh alike; the raw error where no
    scale is known); ``val_loss`` = the fit's best validation loss.
    """
    scales = dict(scales or {})
    out: dict[str, float] = {}
    for name in names:
        if name == "auc":
            out[name] = float(metrics["roc_auc"])
        elif name == "nll":
            out[name] = float(metrics["nll"]) if metrics.get("nll") is not None else math.nan
        elif name == "calibration":
            gaps = [abs(float(metrics[f"coverage_{k}sigma"]) - p)
                    for k, p in EXPECTED_COVERAGE.items() if metrics.get(f"coverage_{k}sigma")
                    is not None]
            out[name] = sum(gaps) / len(gaps) if gaps else math.nan
        elif name == "error68":
            errors = []
            for key, value in metrics.items():
                if key.startswith("error68_") and value is not None:
                    std = scales.get(key[len("error68_"):])
                    errors.append(float(value) / std if std else float(value))
            out[name] = sum(errors) / len(errors) if errors else math.nan
        elif name == "val_loss":
            out[name] = _history_min(history, "val_loss") if history else math.nan
        else:
            raise KeyError(f"unknown objective {name!r}")
    return out


class KerasObjective:
    """Train the experiment's network on the trial's configuration; return its objectives.

    Trial ``n`` of study ``S`` writes ``<runs>/<name>/tune/S/trials/<n>`` (a retried trial
    reuses the directory of the trial it retries, so it resumes from that trial's last epoch).
    The data set is loaded once per worker process and shared by its trials.

    Args:
        exp: the base experiment (its ``[tune]`` table says mode, objectives, monitor).
        runs_dir: root of run directories.
        progress: print one line per epoch.
        dataset: a data set to use instead of the experiment's (tests).
    """

    def __init__(self, exp: Experiment, *, runs_dir: str | Path = "runs", progress: bool = True,
                 dataset: Any = None, **_):
        self.exp = exp
        self.runs_dir = Path(runs_dir)
        self.progress = progress
        self.names = exp.tune.objective_names(get_task(exp.experiment.task))
        self._dataset = dataset
        self._dataset_key: str | None = None if dataset is None else "given"

    def dataset(self, config: Experiment):
        """The data set of ``config`` (loaded or simulated once, then reused)."""
        if self._dataset_key == "given":
            return self._dataset
        key = repr((config.simulation, config.experiment.data, config.seed))
        if key != self._dataset_key:
            self._dataset = load_dataset(config, progress=self.progress)
            self._dataset_key = key
        return self._dataset

    @staticmethod
    def scales(config: Experiment, dataset: Any) -> dict[str, float]:
        """The task's scales for the error68 objective (regression: each target's spread)."""
        return get_task(config.experiment.task).objective_scales(config, dataset)

    def folder(self, trial: Any) -> Path:
        """The trial's run directory."""
        study = getattr(trial, "study", None)
        study_name = study.study_name if study is not None else "fixed-trial"
        try:
            system_attrs = trial.system_attrs
        except (AttributeError, NotImplementedError):
            system_attrs = {}
        number = int(system_attrs.get("failed_trial", trial.number))
        return study_dir(self.exp, self.runs_dir) / study_name / "trials" / f"{number:04d}"

    def __call__(self, trial: Any) -> float | list[float]:
        config = suggest_config(trial, self.exp)
        space = self.exp.tune
        folder = self.folder(trial)
        pruner = KerasPruningCallback(trial, space.monitor_key(get_task(config.experiment.task)),
                                      epochs_per_stage=config.train.epochs)
        dataset = self.dataset(config)
        if space.mode == "holdout":
            metrics = holdout_fit(config, folder, dataset=dataset, callbacks=[pruner],
                                  progress=self.progress)
            per_fit = [objectives_from_metrics(self.names, metrics, folder / "history.csv",
                                               self.scales(config, dataset))]
        else:
            result = run_cv(config, run_dir=folder, folds=list(space.folds) or None,
                            callbacks=[pruner], progress=self.progress, dataset=dataset)
            wanted = set(space.folds) if space.folds else None
            per_fit = [objectives_from_metrics(self.names, f.metrics,
                                               folder / f"fold_{f.fold}" / "history.csv",
                                               self.scales(config, dataset))
                       for f in result.folds if wanted is None or f.fold in wanted]
        values = {n: sum(v[n] for v in per_fit) / len(per_fit) for n in self.names}
        trial.set_user_attr("run_dir", str(folder))
        trial.set_user_attr("objectives", {n: (v if math.isfinite(v) else None)
                                           for n, v in values.items()})
        return objective_values(self.names, values)
