"""Summaries of cross-validation runs: one run's folds (:func:`aggregate`), several runs side by
side (:func:`compare_runs`).

A run's summary is ``summary.{csv,md,json}`` (the thesis Table 5-1 layout: metrics as mean +-
std over the test folds, in the order and with the headers its task gives) and ``plots/``
(learning curves and the task's plots). A comparison is ``comparison.{csv,md,json}`` and
``overview.png``, runs sorted by their task's headline metric, best first.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.evaluate.metrics import mean_std
from lensfind.evaluate.plots import plot_comparison, plot_learning_curves
from lensfind.files import atomic_write_text, fmt, markdown_table, read_json, write_json
from lensfind.tasks import get_task
from lensfind.train.caveats import run_caveats
from lensfind.train.oof import read_oof
from lensfind.train.rundir import DEFAULT_RUNS_ROOT, RunDir, RunError
from lensfind.validation import ConfigError


@dataclasses.dataclass
class FoldResult:
    """One finished fold: its ``metrics.json`` content."""

    fold: int
    metrics: dict[str, float]
    info: dict[str, Any]

    @classmethod
    def load(cls, folder: Path) -> "FoldResult":
        data = read_json(folder / "metrics.json")
        return cls(int(data["fold"]), data["metrics"], data)



def _title(run: RunDir) -> str:
    return f"{run.info.get('experiment', run.path.parent.name)} ({run.path.name})"


def _millions(n: int | None) -> str:
    if n is None:
        return "--"
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n:,}"


def aggregate(run_dir: str | Path, *, plots: bool = True, progress: bool = True,
              stream=None) -> dict:
    """Summarise the finished folds of a run: ``summary.{csv,md,json}`` and ``plots/``.

    Works on a partial run too (``folds_finished`` says how many of k); a run without any
    finished fold is refused.
    """
    out = stream or sys.stdout
    run = RunDir(run_dir)
    exp = run.experiment()
    task = get_task(run.task)
    done = run.finished_folds()
    if not done:
        raise RunError(f"{run.path} has no finished fold yet (no fold_<k>/DONE); nothing to "
                       "aggregate")
    k = run.n_folds()
    results = [FoldResult.load(run.fold_dir(i)) for i in done]
    oof = {i: read_oof(run.fold_dir(i) / "oof.csv") for i in done}
    metrics = {}
    for m in task.metrics:
        mean, std = mean_std([r.metrics.get(m, math.nan) for r in results])
        metrics[m] = {"mean": mean, "std": std}
    pooled_cols: dict[str, np.ndarray] = {}
    for cols in oof.values():
        for key, arr in cols.items():
            pooled_cols[key] = np.concatenate([pooled_cols[key], arr]) if key in pooled_cols \
                else arr
    pooled = task.pooled_metrics(pooled_cols) if pooled_cols else {}
    first = results[0].info
    cpu = [r.info.get("cpu_seconds_per_epoch") for r in results
           if r.info.get("cpu_seconds_per_epoch") is not None]
    wall = [r.info.get("seconds_per_epoch") for r in results
            if r.info.get("seconds_per_epoch") is not None]
    later = [r.info.get("cpu_seconds_later_epochs") for r in results
             if r.info.get("cpu_seconds_later_epochs") is not None]
    summary = {
        "experiment": exp.name, "run": run.path.name, "run_dir": str(run.path),
        "task": task.name, "model": exp.model.backbone, "regime": exp.model.regime,
        "head": exp.model.head, "input_size": exp.model.input_size,
        "parameters": first.get("parameters"),
        "trainable_parameters": first.get("trainable_parameters"),
        "folds_finished": len(done), "folds": k, "complete": len(done) == k,
        "n_images": int(sum(r.info.get("n_test", 0) for r in results)),
        "epochs_mean": float(np.mean([r.info.get("epochs", 0) for r in results])),
        "seconds_per_epoch": float(np.mean(wall)) if wall else None,
        "cpu_seconds_per_epoch": float(np.mean(cpu)) if cpu else None,
        "cpu_seconds_later_epochs": float(np.mean(later)) if later else None,
        "headline": task.headline, "metric_order": list(task.metrics),
        "headers": {m: task.headers.get(m, m) for m in task.metrics},
        "metrics": metrics, "pooled": pooled,
        "caveats": run_caveats(exp, int(first.get("n_train", 0))),
        "per_fold": [{"fold": r.fold, **r.metrics, "epochs": r.info.get("epochs"),
                      "best_epoch": r.info.get("best_epoch")} for r in results],
    }
    write_json(run.path / "summary.json", summary)
    atomic_write_text(run.path / "summary.csv", summary_csv([summary]))
    atomic_write_text(run.path / "summary.md", summary_markdown([summary]))
    if plots:
        pdir = run.path / "plots"
        pdir.mkdir(exist_ok=True)
        histories = {i: read_history(run.fold_dir(i)) for i in done}
        plot_learning_curves(histories, pdir / "learning_curves.png", title=_title(run))
        task.plots(run.path, _title(run), oof, pdir)
    if progress:
        print(summary_markdown([summary]), file=out, flush=True)
        print(f"lensfind: summary written to {run.path / 'summary.md'}", file=out, flush=True)
    return summary


def read_history(folder: Path) -> list[dict]:
    """Per-epoch logs of a fold from ``state.json`` (authoritative) or ``history.csv``."""
    state = Path(folder) / "state.json"
    if state.is_file():
        return read_json(state).get("history", [])
    path = Path(folder) / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)}
                for row in csv.DictReader(f)]


def _row_values(s: dict) -> dict[str, Any]:
    row = {"experiment": s["experiment"], "run": s["run"], "model": s["model"],
           "regime": s["regime"], "input_size": s["input_size"], "parameters": s["parameters"],
           "trainable_parameters": s["trainable_parameters"],
           "folds": f"{s['folds_finished']}/{s['folds']}"}
    for m in s["metric_order"]:
        row[f"{m}_mean"] = s["metrics"][m]["mean"]
        row[f"{m}_std"] = s["metrics"][m]["std"]
    row[f"pooled_{s['headline']}"] = s["pooled"].get(s["headline"])
    row["cpu_seconds_per_epoch"] = s.get("cpu_seconds_per_epoch")
    return row


def summary_csv(summaries: Sequence[dict]) -> str:
    """One CSV row per run summary (mean and std columns for every metric)."""
    rows = [_row_values(s) for s in summaries]
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def summary_markdown(summaries: Sequence[dict]) -> str:
    """The thesis Table 5-1 layout: model, parameters, metrics as mean +- std over folds."""
    order: list[str] = []
    headers: dict[str, str] = {}
    for s in summaries:
        order.extend(m for m in s["metric_order"] if m not in order)
        headers.update(s["headers"])
    cols = ["Model", "Regime", "Parameters", "Trainable"] + [headers[m] for m in order] + \
        ["Folds"]
    rows = []
    for s in summaries:
        cells = [s["model"], s["regime"], _millions(s["parameters"]),
                 _millions(s["trainable_parameters"])]
        for m in order:
            v = s["metrics"].get(m)
            cells.append("--" if v is None else f"{fmt(v['mean'])} ± {fmt(v['std'])}")
        cells.append(f"{s['folds_finished']}/{s['folds']}")
        rows.append(cells)
    note = get_task(summaries[0]["task"]).summary_note if summaries else ""
    caveats = "".join(f"\n**Caveat ({s['model']}, {s['regime']}):** {c}\n"
                      for s in summaries for c in s.get("caveats", []))
    return markdown_table(cols, rows) + "\n" + note + "\n" + caveats


# --------------------------------------------------------------------------------- compare

def compare_runs(run_dirs: Sequence[str | Path], out_dir: str | Path, *,
                 progress: bool = True, stream=None) -> list[dict]:
    """One comparison table (``comparison.{csv,md}``) and ``overview.png`` of several runs.

    Each run's ``summary.json`` is used (built by :func:`aggregate` if missing). Runs are
    sorted by their headline metric, best first.
    """
    out = stream or sys.stdout
    out_dir = Path(out_dir)
    if not run_dirs:
        raise ConfigError("compare: no run directories given")
    summaries = []
    oofs = {}
    for d in run_dirs:
        run = RunDir(d)
        if not (run.path / "summary.json").is_file():
            aggregate(run.path, progress=False)
        s = run.summary()
        summaries.append(s)
        oofs[s["run_dir"]] = {i: read_oof(run.fold_dir(i) / "oof.csv")
                              for i in run.finished_folds()}
    def headline(s):
        v = s["metrics"].get(s["headline"], {}).get("mean")
        return -math.inf if v is None or math.isnan(v) else v
    summaries.sort(key=headline, reverse=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "comparison.csv", summary_csv(summaries))
    atomic_write_text(out_dir / "comparison.md", summary_markdown(summaries))
    write_json(out_dir / "comparison.json", summaries)
    plot_comparison(summaries, oofs, out_dir / "overview.png")
    if progress:
        print(summary_markdown(summaries), file=out, flush=True)
        print(f"lensfind compare: wrote {out_dir / 'comparison.md'} and "
              f"{out_dir / 'overview.png'}", file=out, flush=True)
    return summaries


def finished_runs(runs_root: str | Path = DEFAULT_RUNS_ROOT,
                  names: Sequence[str] | None = None) -> list[Path]:
    """The latest complete run of each experiment under ``runs_root`` (or of ``names``)."""
    root = Path(runs_root)
    exps = names if names else sorted(p.name for p in root.iterdir() if p.is_dir()) \
        if root.is_dir() else []
    found = []
    for name in exps:
        runs = [r for r in RunDir.runs_of(root, name) if r.is_complete()]
        if runs:
            found.append(runs[-1].path)
    return found
