"""Sweeps: one experiment file, one cross-validation run per value of some settings.

An experiment file with a ``[sweep]`` table, e.g. the dropout rates of the covariance paper::

    [sweep]
    name = "dropout"
    keys = ["model.pool_dropout", "model.dense_dropout", "model.conv_dropout"]
    values = [0.02, 0.03, 0.1]

is run by ``lensfind sweep FILE`` (``make regress-dropout-sweep``): for every value, every key
is set to it (as ``--set KEY=VALUE`` would), the experiment is renamed
``<name>-<sweep name><value>`` (e.g. ``regress-dropout-sweep-dropout0.03``) and cross-validated
with :func:`lensfind.train.cv.run_cv` in its own, resumable run directory (on one data set,
simulated once, unless a swept key changes the simulation). When all are done,
``runs/<name>/sweep.{csv,md}`` compare them (for regression also ``sweep.png``: coverage
against the swept value) and ``lensfind compare`` tables every run. ``lensfind cv`` on such a
file runs the base experiment only.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lensfind.validation import fail


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    """The ``[sweep]`` table (empty ``values``: no sweep).

    Attributes:
        name: label of the swept quantity, used in run names (e.g. ``"dropout"``).
        keys: ``SECTION.FIELD`` settings that take each value together.
        values: one cross-validation run per value.
    """

    name: str = "sweep"
    keys: tuple[str, ...] = ()
    values: tuple[Any, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            fail("sweep.name", self.name, "a non-empty name without '/'")
        if not all(isinstance(k, str) and k.count(".") >= 1 and not k.startswith("sweep.")
                   for k in self.keys):
            fail("sweep.keys", list(self.keys), "SECTION.FIELD names such as "
                 "'model.dense_dropout' (not sweep.*)")
        if bool(self.keys) != bool(self.values):
            fail("sweep.values" if self.keys else "sweep.keys",
                 list(self.values) if self.keys else list(self.keys),
                 "both keys and values (or neither)")
        if any(isinstance(v, (dict, list, tuple)) for v in self.values):
            fail("sweep.values", list(self.values), "a list of plain values (numbers, strings)")
        if len(set(map(repr, self.values))) != len(self.values):
            fail("sweep.values", list(self.values), "values without repeats")

    @property
    def enabled(self) -> bool:
        return bool(self.values)

    def overrides(self, value) -> list[str]:
        return [f"{k}={json.dumps(value)}" for k in self.keys]

    def run_name(self, base: str, value) -> str:
        return f"{base}-{self.name}{value}"


def sweep_experiments(exp) -> list[tuple[Any, Any]]:
    """``[(value, Experiment)]``: one experiment per swept value, without the sweep table.

    Every experiment is validated here, before anything runs.
    """
    from lensfind.config import experiment_from_dict, to_plain

    sweep = exp.sweep
    if not sweep.enabled:
        fail("sweep.values", list(sweep.values), "a non-empty list: this experiment has no sweep")
    base = to_plain(exp)
    base.pop("sweep", None)
    out = []
    for value in sweep.values:
        one = experiment_from_dict(base, source=f"[sweep {sweep.name} = {value}]",
                                   overrides=sweep.overrides(value))
        out.append((value, one.replace(experiment={"name": sweep.run_name(exp.name, value)})))
    return out


def _table(rows: list[dict]) -> tuple[str, str]:
    """CSV and Markdown text of dict rows (columns in first-seen order)."""
    from lensfind.evaluate.calibration import csv_table, markdown_table

    header: list[str] = []
    for r in rows:
        header.extend(k for k in r if k not in header)
    values = [[r.get(k) for k in header] for r in rows]
    cells = [[f"{v:.3g}" if isinstance(v, float) else ("--" if v is None else str(v))
              for v in row] for row in values]
    return csv_table(header, values), markdown_table(header, cells)


def run_sweep(exp, *, runs_root: str | Path = "runs", progress: bool = True,
              stream=None) -> Path:
    """Cross-validate every value of ``exp.sweep``; write ``runs/<name>/sweep.{csv,md}``.

    Returns the folder holding the sweep tables.
    """
    from lensfind.train.cv import run_cv

    out = stream or sys.stdout
    experiments = sweep_experiments(exp)
    dataset = None
    if not any(k.startswith(("simulation.", "experiment.seed", "experiment.data"))
               for k in exp.sweep.keys):
        from lensfind.data.build import load_dataset  # one data set for every value
        dataset = load_dataset(exp, progress=progress)
    rows, results = [], []
    for value, one in experiments:
        if progress:
            print(f"lensfind sweep: {exp.sweep.name} = {value} -> {one.name}", file=out,
                  flush=True)
        result = run_cv(one, runs_root=runs_root, progress=progress, stream=stream,
                        dataset=dataset)
        results.append((value, result))
        row: dict[str, Any] = {exp.sweep.name: value, "run": str(result.run_dir),
                               "folds": f"{len(result.folds)}/{result.k}"}
        if result.folds:
            keys = list(result.folds[0].metrics)
            for key in keys:
                row[key] = result.mean(key)
        rows.append(row)
    folder = Path(runs_root) / exp.name
    folder.mkdir(parents=True, exist_ok=True)
    csv_text, md_text = _table(rows)
    (folder / "sweep.csv").write_text(csv_text, encoding="utf-8")
    (folder / "sweep.md").write_text(
        f"# {exp.name}: sweep over {exp.sweep.name} ({', '.join(exp.sweep.keys)})\n\n"
        "Mean over the finished test folds of each run.\n\n" + md_text, encoding="utf-8")
    if exp.experiment.task == "regress" and all(r.complete for _, r in results):
        _regression_sweep_plot(results, folder / "sweep.png", exp.sweep.name)
    if progress:
        print(md_text, file=out, flush=True)
        print(f"lensfind sweep: wrote {folder / 'sweep.md'}", file=out, flush=True)
    return folder


def _regression_sweep_plot(results, path: Path, name: str) -> None:
    from lensfind.evaluate.regression_plots import plot_sweep
    from lensfind.train.regress import pool_predictions, reports

    values, reps = [], []
    for value, result in results:
        if not isinstance(value, (int, float)) or value <= 0:
            return
        folds = sorted(p for p in Path(result.run_dir).glob("fold_*") if p.is_dir())
        values.append(value)
        reps.append(reports(pool_predictions(folds))["as predicted"])
    plot_sweep(values, reps, path, name=name)


def sweep_command(args) -> int:
    """``lensfind sweep EXPERIMENT.toml [--small] [--set K=V] [--runs-dir DIR]``."""
    from lensfind.config import load_experiment

    exp = load_experiment(args.experiment, small=args.small, overrides=args.overrides)
    run_sweep(exp, runs_root=args.runs_dir)
    return 0


__all__: Sequence[str] = ("SweepConfig", "sweep_experiments", "run_sweep", "sweep_command")
