"""``lensfind tune``: fill a study with trials using K workers, then report it.

``tune(exp, n_trials=N)`` makes the study hold N trials: a fresh study gets N, a study that
already holds some (an earlier run, other machines' workers) gets the missing ones, so running
the same command again continues the study after an interruption and does nothing more once it
is complete (raise ``--n-trials`` to extend it). Several machines can share one study through a
database URL (``--storage postgresql://...``): start the same command on each.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lensfind.config import Experiment, load_experiment, to_plain
from lensfind.tune.report import summarize, write_report
from lensfind.tune.space import tuned_params
from lensfind.tune.storage import open_study, storage_url, study_dir
from lensfind.tune.workers import WorkerSpec, fail_stale_trials, fill_queue, run_workers

log = logging.getLogger("lensfind.tune")


class _StdoutHandler(logging.Handler):
    """Log records as plain lines on the current ``sys.stdout``."""
    def emit(self, record):
        print(self.format(record), file=sys.stdout, flush=True)


def log_to_stdout() -> None:
    """Show this package's progress lines (trial finished, pruned, failed) on stdout."""
    if not any(isinstance(h, _StdoutHandler) for h in log.handlers):
        log.addHandler(_StdoutHandler())
    log.setLevel(logging.INFO)
    log.propagate = False


def default_study_name(exp: Experiment, *, small: bool = False) -> str:
    """The experiment's name; for ``--small`` runs ``-small`` is appended unless the file's
    ``[small.experiment]`` already names the small version so: a separate study."""
    return exp.name + ("-small" if small and not exp.name.endswith("-small") else "")


def tune(exp: Experiment, *, n_trials: int | None = None, storage: str | None = None,
         study_name: str | None = None, workers: int | None = None,
         runs_dir: str | Path = "runs", objective: str = "keras",
         objective_options: Mapping[str, Any] | None = None,
         base: Mapping[str, Any] | None = None, report: bool = True,
         timeout: float | None = None, progress: bool = True) -> dict[str, Any]:
    """Run (or continue) the Optuna study of ``exp`` until it holds ``n_trials`` trials.

    Args:
        exp: the experiment; its ``[tune]`` table gives the search space and the defaults.
        n_trials: trials the study should hold (default ``[tune] n_trials``).
        storage: Optuna storage URL (default ``[tune] storage``, else
            ``sqlite:///<runs_dir>/<name>/tune/study.db``).
        study_name: default the experiment's name.
        workers: worker processes on this machine (default ``[tune] workers``).
        runs_dir: root of run directories.
        objective: ``"keras"`` (train the network) or ``"synthetic"`` (closed-form stand-in).
        objective_options: keyword arguments of the objective.
        base: the experiment file as read from TOML, for the best configuration's file
            (default: the resolved experiment).
        report: write plots, ``trials.csv``, ``best.toml`` and ``summary.json``.
        timeout: seconds to wait for spawned workers.
        progress: print what is queued (and per-epoch lines of the Keras objective).

    Returns:
        The summary (see :func:`lensfind.tune.report.summarize`) with ``storage``,
        ``study_dir``, ``report_dir`` and ``worker_exit_codes`` added.
    """
    import optuna


    space = exp.tune
    n_trials = space.n_trials if n_trials is None else int(n_trials)
    workers = space.workers if workers is None else int(workers)
    if n_trials < 1 or workers < 1:
        raise ValueError(f"n_trials = {n_trials}, workers = {workers} are invalid: expected >= 1")
    tuned = tuned_params(exp)  # refuse a bad [tune] params before any work
    url = storage_url(exp, storage, runs_dir)
    name = study_name or default_study_name(exp)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(exp, storage=url, study_name=name)
    fail_stale_trials(study)
    added = fill_queue(study, n_trials)
    if progress:
        print(f"lensfind tune: study {name!r} in {_safe_url(url)}: {n_trials} trials wanted, "
              f"{added} queued now; {workers} worker(s); searching {', '.join(tuned)}",
              file=sys.stdout, flush=True)
    options = dict(objective_options or {})
    if objective == "keras":
        options.setdefault("progress", progress)
    spec = WorkerSpec(experiment=exp, storage_url=url, study_name=name, objective=objective,
                      objective_options=options, runs_dir=str(runs_dir))
    codes = run_workers(spec, workers, timeout=timeout)
    if any(code != 0 for code in codes):
        log.warning("worker exit codes %s: some workers did not finish cleanly", codes)
    out = study_dir(exp, runs_dir)
    report_dir = out / name
    if report:
        base = base if base is not None else to_plain(exp)
        full_name = (base.get("experiment") or {}).get("name", exp.name)
        summary = write_report(study, report_dir, base, best_name=f"{full_name}-best",
                               dropout_params=[f"model.{p}" for p in tuned])
    else:
        summary = summarize(study)
    summary.update(storage=_safe_url(url), study_dir=str(out), report_dir=str(report_dir),
                   worker_exit_codes=codes)
    return summary


def _safe_url(url: str) -> str:
    """A storage URL without its password, for printing."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001
        return url


def format_summary(summary: Mapping[str, Any]) -> str:
    """A few lines for the terminal."""
    c = summary["counts"]
    lines = [f"study {summary['study']!r} ({', '.join(summary['objectives'])}; "
             f"{summary['storage']}): {c['complete']} complete, {c['pruned']} pruned, "
             f"{c['fail']} failed, {c['running']} running, {c['waiting']} waiting"
             + (f"; retried after a lost worker: trials {summary['retried']}"
                if summary.get("retried") else "")]
    label = "Pareto trial" if len(summary["objectives"]) > 1 else "best trial"
    for best in summary["best"][:5]:
        values = ", ".join(f"{k} = {v:.4g}" for k, v in best["values"].items())
        params = ", ".join(f"{k} = {v:.4g}" if isinstance(v, float) else f"{k} = {v}"
                           for k, v in best["params"].items())
        lines.append(f"  {label} {best['number']}: {values}  ({params})")
    if summary.get("best_experiment"):
        lines.append(f"  best configuration: {summary['best_experiment']}  "
                     f"(lensfind cv {summary['best_experiment']})")
    if summary.get("plots"):
        lines.append(f"  plots: {Path(summary['plots'][0]).parent}/ "
                     f"({', '.join(Path(p).name for p in summary['plots'])})")
    return "\n".join(lines)


def tune_demo(out_dir: str | Path, *, exp: Experiment | None = None, dataset: Any = None,
              n_trials: int = 3, objective: str = "keras", progress: bool = True
              ) -> dict[str, Any]:
    """A short tuning run for the demo: ``n_trials`` trials of ``exp`` in this process.

    Args:
        out_dir: everything goes under ``out_dir/runs`` (study database, trial runs, report:
            ``out_dir/runs/<name>/tune/<name>-demo/{plots/*.png, best.toml, trials.csv}``).
        exp: the experiment (default: ``experiments/tune-dropout.toml`` with ``--small``, on
            64 + 64 cutouts for 2 epochs: about a minute per trial on a laptop CPU).
        dataset: a data set in memory to tune on instead of the experiment's own.
        n_trials: trials to run.
        objective: ``"keras"`` or ``"synthetic"`` (seconds, no network).
        progress: print per-epoch lines.

    Returns:
        The summary of :func:`tune`: ``counts``, ``best`` (number, values, params),
        ``plots``, ``best_experiment``, ``report_dir``, ``storage``.
    """
    if exp is None:
        path = Path(__file__).resolve().parents[2] / "experiments" / "tune-dropout.toml"
        exp = load_experiment(path, small=True).replace(
            simulation={"n_lenses": 64, "n_nonlenses": 64}, train={"epochs": 2})
    exp = exp.replace(tune={"workers": 1, "storage": "", "n_trials": n_trials})
    options = {"dataset": dataset} if dataset is not None and objective == "keras" else {}
    return tune(exp, n_trials=n_trials, workers=1, runs_dir=Path(out_dir) / "runs",
                objective=objective, objective_options=options,
                study_name=f"{exp.name}-demo", progress=progress)
