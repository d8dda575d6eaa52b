"""What a finished (or partial) study leaves behind: plots, tables, the best configuration.

Files under ``runs/<experiment>/tune/`` (the study's folder):
``plots/history.png`` (optimisation history), ``plots/importances.png`` (parameter
importances), ``plots/slice.png`` (objective against each dropout rate),
``plots/intermediate.png`` (per-epoch values, pruned trials included), ``plots/pareto.png``
(multi-objective studies); ``trials.csv`` (every trial); ``best.toml`` (the base experiment with
the best trial's values, ready for ``lensfind cv``); ``summary.json``.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import tomllib
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from lensfind.data.store import to_toml
from lensfind.tune.space import params_to_sections

log = logging.getLogger("lensfind.tune")


def _names(study: optuna.Study) -> list[str]:
    return list(study.metric_names or [f"objective{i}" for i in range(len(study.directions))])


def best_trials(study: optuna.Study) -> list[FrozenTrial]:
    """The best trial (single objective) or the Pareto front sorted by the first objective."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        return []
    if len(study.directions) == 1:
        return [study.best_trial]
    sign = 1 if study.directions[0] == optuna.study.StudyDirection.MINIMIZE else -1
    return sorted(study.best_trials, key=lambda t: sign * t.values[0])


def counts(study: optuna.Study) -> dict[str, int]:
    """Trials by state, e.g. ``{"complete": 8, "pruned": 2, "fail": 1, ...}``."""
    out = {s.name.lower(): 0 for s in TrialState}
    for trial in study.get_trials(deepcopy=False):
        out[trial.state.name.lower()] += 1
    return out


def write_trials_csv(study: optuna.Study, path: Path) -> Path:
    """One row per trial: number, state, objectives, parameters, worker, retry of."""
    trials = study.get_trials(deepcopy=False)
    names = _names(study)
    params = sorted({p for t in trials for p in t.params})
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["number", "state", *names, *params, "worker", "retry_of", "error"])
        for t in trials:
            values = t.values if t.values is not None and t.state == TrialState.COMPLETE else []
            writer.writerow([t.number, t.state.name, *[f"{v:.6g}" for v in values],
                             *([""] * (len(names) - len(values))),
                             *[t.params.get(p, "") for p in params],
                             t.user_attrs.get("worker", ""),
                             t.system_attrs.get("failed_trial", ""), t.user_attrs.get("error", "")])
    return path


def _save(ax_or_axes: Any, path: Path, title: str | None = None) -> Path:
    import numpy as np
    first = ax_or_axes.flat[0] if isinstance(ax_or_axes, np.ndarray) else ax_or_axes
    fig = first.figure
    if title:
        fig.suptitle(title)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return path


def write_plots(study: optuna.Study, out_dir: str | Path, *,
                dropout_params: list[str] | None = None) -> list[Path]:
    """Draw the study's plots as PNG files in ``out_dir``; the paths written.

    A plot that cannot be drawn yet (e.g. importances before two trials finished) is skipped
    with a log line, so a report of a partial study never fails.
    """
    import matplotlib
    matplotlib.use("Agg")
    from optuna.visualization import matplotlib as ovm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = _names(study)
    multi = len(names) > 1
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    params = sorted({p for t in complete for p in t.params})
    dropout_params = [p for p in (dropout_params or params) if "dropout" in p] or params
    target = (lambda t: t.values[0]) if multi else None
    target_name = names[0]
    jobs: list[tuple[str, Any]] = [
        ("history.png", lambda: ovm.plot_optimization_history(
            study, target=target, target_name=target_name)),
        ("slice.png", lambda: ovm.plot_slice(
            study, params=dropout_params, target=target, target_name=target_name)),
        ("importances.png", lambda: ovm.plot_param_importances(
            study, target=target, target_name=target_name)),
    ]
    if not multi and any(t.intermediate_values for t in study.get_trials(deepcopy=False)):
        jobs.append(("intermediate.png", lambda: ovm.plot_intermediate_values(study)))
    if multi and len(names) in (2, 3):
        jobs.append(("pareto.png", lambda: ovm.plot_pareto_front(study, target_names=names)))
    written = []
    with matplotlib.rc_context():  # Optuna sets the ggplot style for the whole process
        for filename, make in jobs:
            if not complete:
                break
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    ax = make()
                if ax is None:
                    continue
                written.append(_save(ax, out_dir / filename, f"{study.study_name}: "
                                     f"{filename.removesuffix('.png')}"))
            except Exception as err:  # noqa: BLE001 -- a report must not fail on one plot
                log.info("plot %s skipped: %s", filename, err)
    return written


def best_experiment(base: Mapping[str, Any], trial: FrozenTrial, *, name: str | None = None
                    ) -> dict[str, Any]:
    """The experiment table ``base`` (as read from TOML) with ``trial``'s values set.

    The ``[tune]`` table is dropped (the file is for ``lensfind cv``), and the tuned keys are
    removed from the ``[small]`` table so that ``--small`` keeps the tuned values.
    """
    import copy
    data = copy.deepcopy(dict(base))
    data.pop("tune", None)
    small = data.get("small", {})
    small.pop("tune", None)
    for section, fields in params_to_sections(trial.params).items():
        data.setdefault(section, {}).update(fields)
        for field in fields:
            small.get(section, {}).pop(field, None)
    for section in [s for s, v in small.items() if isinstance(v, dict) and not v]:
        small.pop(section)
    if not small:
        data.pop("small", None)
    if name:
        data.setdefault("experiment", {})["name"] = name
        if "name" in (small.get("experiment") or {}):
            small["experiment"]["name"] = f"{name}-small"
    return data


def write_best_experiment(study: optuna.Study, base: Mapping[str, Any], path: str | Path, *,
                          name: str | None = None) -> Path | None:
    """Write the best trial's configuration as an experiment file (``None`` if none finished)."""
    best = best_trials(study)
    if not best:
        return None
    trial = best[0]
    names = _names(study)
    values = ", ".join(f"{n} = {v:.5g}" for n, v in zip(names, trial.values))
    header = (f"# Best configuration of Optuna study {study.study_name!r}: trial {trial.number} "
              f"({values}).\n# Written by `lensfind tune`; run it with `lensfind cv {path}`.\n")
    if len(study.directions) > 1:
        header += (f"# Multi-objective study: this is the Pareto trial with the best {names[0]}; "
                   "trials.csv lists the whole front.\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + to_toml(best_experiment(base, trial, name=name)))
    tomllib.loads(path.read_text())  # what we wrote must read back
    return path


def summarize(study: optuna.Study) -> dict[str, Any]:
    """Plain summary: counts by state, best trial(s) with values and parameters."""
    names = _names(study)
    best = best_trials(study)
    return {
        "study": study.study_name,
        "objectives": names,
        "directions": [d.name.lower() for d in study.directions],
        "counts": counts(study),
        "best": [{"number": t.number, "values": dict(zip(names, t.values)), "params": t.params}
                 for t in best],
        "retried": sorted({int(t.system_attrs["failed_trial"])
                           for t in study.get_trials(deepcopy=False)
                           if "failed_trial" in t.system_attrs}),
    }


def write_report(study: optuna.Study, out_dir: str | Path, base: Mapping[str, Any], *,
                 best_name: str | None = None, dropout_params: list[str] | None = None
                 ) -> dict[str, Any]:
    """Plots, ``trials.csv``, ``best.toml`` and ``summary.json`` in ``out_dir``; the summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = summarize(study)
    summary["trials_csv"] = str(write_trials_csv(study, out_dir / "trials.csv"))
    summary["plots"] = [str(p) for p in write_plots(study, out_dir / "plots",
                                                    dropout_params=dropout_params)]
    best = write_best_experiment(study, base, out_dir / "best.toml", name=best_name)
    summary["best_experiment"] = None if best is None else str(best)

    def clean(obj):
        if isinstance(obj, float) and not math.isfinite(obj):
            return None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj
    (out_dir / "summary.json").write_text(json.dumps(clean(summary), indent=2) + "\n")
    return summary
