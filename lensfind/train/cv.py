"""k-fold cross-validation of an experiment: folds, a fresh model per fold, resume, summary.

>>> from lensfind.config import load_experiment
>>> result = run_cv(load_experiment("experiments/cv-lensflow.toml", small=True))  # doctest: +SKIP
>>> result.summary["metrics"]["roc_auc"]                                          # doctest: +SKIP
{'mean': 0.97, 'std': 0.01}

What :func:`run_cv` does:

1. refuses bad settings or data before any work (unknown backbone or regime, a head that does
   not fit the task, a data set without labels or with one class, more folds than systems);
2. opens the run directory (``--run-dir``, else the latest run of the experiment with identical
   settings, else a new ``runs/<experiment>/<run_id>``; see :mod:`lensfind.train.rundir`);
3. splits the data once into k stratified folds, keeping every ``system_id`` in one fold, and
   saves the indices (``folds.json``). Inside the training folds a further stratified, groups-
   aware 10 % is held out as validation data for early stopping and learning curves, so the
   test fold is used only for the final prediction;
4. for each fold not yet ``DONE``: seeds everything from ``(seed, fold)``, builds a fresh model
   (or resumes the fold's checkpoint), trains with augmentation on the training part only,
   predicts the test fold and writes ``metrics.json``, ``oof.csv``, ``model.keras`` and ``DONE``;
5. when every fold is done: :func:`lensfind.train.summary.aggregate` writes
   ``summary.{csv,md,json}`` and plots.

Everything task-specific (targets, validation, predictions, metrics, table columns, plots) is
asked of the experiment's :class:`~lensfind.tasks.base.Task`; one fold is fitted by
:func:`lensfind.train.fit.fit_split`, the recipe tuning and the benchmarks use too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from lensfind.data.build import load_dataset
from lensfind.data.folds import Fold, check_stratifiable, make_folds, validation_split
from lensfind.evaluate.metrics import mean_std
from lensfind.files import atomic_path, atomic_write_text, fmt, read_json, write_json
from lensfind.seeds import derive_seed
from lensfind.tasks import FoldContext, Task
from lensfind.train.callbacks import BEST_WEIGHTS, CHECKPOINT
from lensfind.train.caveats import run_caveats
from lensfind.train.fit import FINAL_MODEL, check_experiment, default_build, fit_split
from lensfind.train.oof import write_oof
from lensfind.train.rundir import (DEFAULT_RUNS_ROOT, DONE, RunDir, RunError, find_resumable,
                                   new_run_id)
from lensfind.train.summary import FoldResult, aggregate
from lensfind.validation import ConfigError
from lensfind.zoo.backbones import count_params

#: fraction of the training folds held out for early stopping and learning curves
VALIDATION_FRACTION = 0.1


@dataclasses.dataclass
class CVResult:
    """What :func:`run_cv` returns.

    Attributes:
        run_dir: the run directory.
        folds: the finished folds (those just run and those found done), in fold order.
        k: number of folds of the run.
        summary: ``summary.json`` content when every fold is finished, else ``None``.
    """

    run_dir: Path
    folds: list[FoldResult]
    k: int
    summary: dict | None = None

    @property
    def complete(self) -> bool:
        return len(self.folds) == self.k

    def values(self, metric: str) -> list[float]:
        return [f.metrics[metric] for f in self.folds]

    def mean(self, metric: str) -> float:
        return mean_std(self.values(metric))[0]


def _fingerprint(dataset, indices: np.ndarray) -> str:
    h = hashlib.sha256()
    h.update(np.asarray(indices, np.int64).tobytes())
    h.update(np.asarray(dataset.labels, np.int64).tobytes())
    h.update(np.asarray(dataset.system_id, np.int64).tobytes())
    h.update(str(np.asarray(dataset.images).shape).encode())
    return h.hexdigest()[:16]


def seed_record(exp) -> dict[str, Any]:
    """Every seed a run derives from ``experiment.seed`` (stored in ``run.json``)."""
    k = exp.train.folds
    return {"master": exp.seed, "folds": derive_seed(exp.seed, "folds"),
            "validation": [derive_seed(exp.seed, "validation", i) for i in range(k)],
            "init": [derive_seed(exp.seed, "init", i) for i in range(k)],
            "shuffle": "numpy SeedSequence([seed, 3, fold, epoch])",
            "augment": "numpy SeedSequence([seed, 4, fold, epoch, batch])",
            "mc_dropout": "numpy SeedSequence([seed, 6, fold, split, layer]) (split 0: test, "
                          "1: validation)"}


def open_run(exp, run_dir, runs_root, new: bool, out) -> RunDir:
    """The run directory for ``exp``: ``run_dir`` (created, or reopened when its settings match),
    else the latest run of ``exp`` with identical settings under ``runs_root`` (unless ``new``),
    else a new ``runs_root/<experiment>/<run_id>``."""
    if run_dir is not None:
        path = Path(run_dir)
        if (path / "run.json").exists():
            run = RunDir(path)
            if not run.same_settings(exp):
                raise RunError(f"--run-dir {path} was made with other settings than "
                               f"{exp.name!r} now has (see {path / 'experiment.toml'}); "
                               "use another folder or the same settings")
            return run
        if path.exists() and any(path.iterdir()):
            raise RunError(f"--run-dir {path} exists and is not a lensfind run directory; "
                           "expected a new folder or one made by `lensfind cv`")
        return RunDir.create(path, exp, extra={"seeds": seed_record(exp)})
    root = RunDir.experiment_root(runs_root, exp.name)
    if not new:
        run = find_resumable(runs_root, exp)
        if run is not None:
            print(f"lensfind cv: {'reusing' if not run.is_complete() else 'found complete'} "
                  f"run {run.path}", file=out, flush=True)
            return run
    root.mkdir(parents=True, exist_ok=True)
    return RunDir.create(root / new_run_id(root), exp, extra={"seeds": seed_record(exp)})


def _setup_determinism(deterministic: bool | None) -> None:
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")  # no "retracing" warnings: every fold has a new model
    if deterministic is None:
        deterministic = not tf.config.list_physical_devices("GPU")
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _folds_for(run: RunDir, exp, task: Task, dataset) -> tuple[list[Fold], list[np.ndarray]]:
    """Load ``folds.json`` or make and save it; returns folds and validation indices."""
    indices, strata, groups = task.select(exp, dataset)
    fingerprint = _fingerprint(dataset, indices)
    k = exp.train.folds
    if run.folds_path.is_file():
        data = read_json(run.folds_path)
        if data.get("fingerprint") != fingerprint:
            raise RunError(f"{run.path}: the data set differs from the one this run was split "
                           "on (labels, system_id or size changed); start a new run (--new)")
        folds = run.folds()
        return folds, [np.asarray(f["val"], np.int64) for f in data["folds"]]
    check_stratifiable(strata[indices], groups[indices], k)
    local = make_folds(strata[indices], groups[indices], k, seed=derive_seed(exp.seed, "folds"))
    folds = [Fold(f.index, indices[f.train], indices[f.test]) for f in local]
    vals = []
    for f in folds:
        _, val = validation_split(strata, groups, f.train, fraction=VALIDATION_FRACTION,
                                  seed=derive_seed(exp.seed, "validation", f.index))
        vals.append(val)
    data = {"k": k, "seed": exp.seed, "fingerprint": fingerprint, "n_images": len(dataset),
            "n_used": int(len(indices)), "validation_fraction": VALIDATION_FRACTION,
            "folds": [{**f.to_dict(), "val": v.tolist()} for f, v in zip(folds, vals)]}
    write_json(run.folds_path, data)
    return folds, vals


def _run_fold(exp, task: Task, dataset, run: RunDir, fold: Fold, val: np.ndarray, *,
              build, callbacks, progress, out) -> FoldResult:
    k = exp.train.folds
    folder = run.fold_dir(fold.index)
    ctx = FoldContext(exp=exp, dataset=dataset, fold=fold.index, k=k,
                      train=np.setdiff1d(fold.train, val), val=val, test=fold.test,
                      folder=folder)
    label = f"[{exp.name} fold {fold.index + 1}/{k}]"
    if progress:
        print(f"{label} train {len(ctx.train)}, validation {len(val)}, test {len(fold.test)} "
              "images", file=out, flush=True)
    t0 = time.perf_counter()
    result = fit_split(exp, task, ctx, build=build, callbacks=callbacks, progress=progress,
                       label=label, stream=out)
    model = result.model
    columns = task.predict(ctx, model)
    metrics = task.fold_metrics(ctx, columns)
    total, trainable = count_params(model)
    with atomic_path(folder / FINAL_MODEL) as tmp:
        model.save(tmp)
    write_oof(folder / "oof.csv", dataset, fold.test, columns)
    hist = result.history
    cpu = [h.get("cpu_seconds") for h in hist if h.get("cpu_seconds") is not None]
    wall = [h.get("seconds") for h in hist if h.get("seconds") is not None]
    info = {
        "fold": fold.index, "k": k, "metrics": metrics,
        "n_train": int(len(ctx.train)), "n_val": int(len(val)), "n_test": int(len(fold.test)),
        "epochs": len(hist), "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early, "resumed_from": result.resumed_from,
        "parameters": total, "trainable_parameters": trainable,
        "seconds_per_epoch": float(np.mean(wall)) if wall else None,
        "cpu_seconds_per_epoch": float(np.mean(cpu)) if cpu else None,
        # the first epoch also traces/compiles the graph: reported apart
        "cpu_seconds_first_epoch": float(cpu[0]) if cpu else None,
        "cpu_seconds_later_epochs": float(np.mean(cpu[1:])) if len(cpu) > 1 else None,
        "seconds": time.perf_counter() - t0,
        "monitor": task.monitor,
    }
    write_json(folder / "metrics.json", info)
    atomic_write_text(folder / DONE, "")
    for name in (CHECKPOINT, BEST_WEIGHTS):  # only needed to resume; model.keras is final
        (folder / name).unlink(missing_ok=True)
    if progress:
        head = metrics.get(task.headline)
        print(f"{label} done: {task.headline} = {fmt(head, '.4f')} (best epoch "
              f"{result.best_epoch + 1} of {len(hist)})", file=out, flush=True)
    return FoldResult(fold.index, metrics, info)



def run_cv(exp, *, run_dir: str | Path | None = None, folds: Sequence[int] | None = None,
           callbacks: Sequence = (), progress: bool = True,
           runs_root: str | Path = DEFAULT_RUNS_ROOT, dataset=None,
           build: Callable | None = None, new: bool = False, deterministic: bool | None = None,
           stream=None) -> "CVResult":
    """Cross-validate ``exp`` (see the module docstring).

    Args:
        exp: the :class:`~lensfind.config.Experiment`.
        run_dir: run directory to use or create; default: resume the latest run of ``exp``
            with identical settings under ``runs_root``, else make a new one.
        folds: run only these fold indices (from 0), e.g. one per job of a cluster job array;
            the summary is written when all folds are done (or by :func:`aggregate`).
        callbacks: extra Keras callbacks for every fold (run after the epoch checkpoint, e.g.
            an Optuna pruning callback reading ``logs[Task.monitor]``).
        progress: print one line per epoch and per fold.
        runs_root: folder holding ``<experiment>/<run_id>`` run directories.
        dataset: a :class:`~lensfind.data.store.DataSet` to use instead of loading or
            simulating the experiment's set (tests, tuners reusing one set).
        build: ``build(exp, input_shape, n_targets) -> compiled keras.Model``; default the zoo's
            ``build_model`` + ``compile_model``.
        new: always start a new run directory.
        deterministic: enable TensorFlow's deterministic ops; default: on when no GPU is
            visible (then a resumed run equals an uninterrupted one bit for bit).
        stream: where progress lines go (default stdout).

    Returns:
        :class:`CVResult`.

    Raises:
        ConfigError / ValueError: bad settings or unusable data (nothing is trained).
        RunError: ``run_dir`` is not usable.
    """
    out = stream or sys.stdout
    task = check_experiment(exp)
    if dataset is None:
        dataset = load_dataset(exp, progress=progress)
    indices, strata, groups = task.select(exp, dataset)
    check_stratifiable(strata[indices], groups[indices], exp.train.folds)
    k = exp.train.folds
    if folds is not None:
        folds = sorted(set(int(f) for f in folds))
        bad = [f for f in folds if not 0 <= f < k]
        if bad:
            raise ConfigError(f"--fold {bad[0]} is invalid: expected a fold index in 0..{k - 1} "
                              f"(train.folds = {k})")
    run = open_run(exp, run_dir, runs_root, new, out)
    all_folds, vals = _folds_for(run, exp, task, dataset)
    _setup_determinism(deterministic)
    build = build or default_build
    todo = folds if folds is not None else list(range(k))
    if progress:
        for msg in run_caveats(exp, len(all_folds[0].train) - len(vals[0])):
            print(f"lensfind cv: CAVEAT: {msg}", file=out, flush=True)
    for i in todo:
        folder = run.fold_dir(i)
        if (folder / DONE).is_file():
            if progress:
                print(f"[{exp.name} fold {i + 1}/{k}] already done", file=out, flush=True)
            continue
        _run_fold(exp, task, dataset, run, all_folds[i], vals[i], build=build,
                  callbacks=callbacks, progress=progress, out=out)
    finished = [FoldResult.load(run.fold_dir(i)) for i in run.finished_folds()]
    result = CVResult(run_dir=run.path, folds=finished, k=k)
    if result.complete:
        result.summary = aggregate(run.path, progress=progress, stream=out)
    elif progress:
        print(f"lensfind cv: {len(finished)}/{k} folds of {run.path} finished; "
              f"`lensfind aggregate {run.path}` summarises them", file=out, flush=True)
    return result
