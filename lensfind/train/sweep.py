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
``runs/<name>/sweep.{csv,md}`` compare them (plus the task's sweep plot, for regression
``sweep.png``: coverage against the swept value) and ``lensfind compare`` tables every run. ``lensfind cv`` on such a
file runs the base experiment only.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from lensfind.config import experiment_from_dict, to_plain
from lensfind.data.build import load_dataset
from lensfind.files import atomic_write_text, csv_table, fmt, markdown_table
from lensfind.tasks import get_task
from lensfind.train.cv import run_cv
from lensfind.validation import fail


def sweep_experiments(exp) -> list[tuple[Any, Any]]:
    """``[(value, Experiment)]``: one experiment per swept value, without the sweep table.

    Every experiment is validated here, before anything runs.
    """
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
    header: list[str] = []
    for r in rows:
        header.extend(k for k in r if k not in header)
    values = [[r.get(k) for k in header] for r in rows]
    cells = [[fmt(v, ".3g") if isinstance(v, float) else ("--" if v is None else str(v))
              for v in row] for row in values]
    return csv_table(header, values), markdown_table(header, cells)


def run_sweep(exp, *, runs_root: str | Path = "runs", progress: bool = True,
              stream=None) -> Path:
    """Cross-validate every value of ``exp.sweep``; write ``runs/<name>/sweep.{csv,md}``.

    Returns the folder holding the sweep tables.
    """
    out = stream or sys.stdout
    experiments = sweep_experiments(exp)
    dataset = None
    if not any(k.startswith(("simulation.", "experiment.seed", "experiment.data"))
               for k in exp.sweep.keys):
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
    atomic_write_text(folder / "sweep.csv", csv_text)
    atomic_write_text(folder / "sweep.md",
        f"# {exp.name}: sweep over {exp.sweep.name} ({', '.join(exp.sweep.keys)})\n\n"
        "Mean over the finished test folds of each run.\n\n" + md_text)
    if all(r.complete for _, r in results):
        get_task(exp.experiment.task).sweep_plots(
            [(value, r.run_dir) for value, r in results], folder / "sweep.png", exp.sweep.name)
    if progress:
        print(md_text, file=out, flush=True)
        print(f"lensfind sweep: wrote {folder / 'sweep.md'}", file=out, flush=True)
    return folder
