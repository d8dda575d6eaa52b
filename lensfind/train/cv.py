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
5. when every fold is done: :func:`aggregate` writes ``summary.{csv,md,json}`` and plots.

Task-specific parts (targets, validation, predictions, metrics, table columns, plots) live in a
:class:`Task` registered in :data:`TASKS` under the experiment's ``task`` name: ``"classify"`` is
defined here; ``"regress"`` is registered by the module named in :data:`TASK_MODULES`.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import importlib
import io
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.data.folds import Fold, check_stratifiable, make_folds, validation_split
from lensfind.train.rundir import (DONE, RunDir, RunError, atomic_write_text, find_resumable,
                                   new_run_id, read_json, write_json)
from lensfind.validation import ConfigError, fail, lookup

#: fraction of the training folds held out for early stopping and learning curves
VALIDATION_FRACTION = 0.1
DEFAULT_RUNS_ROOT = "runs"


# ------------------------------------------------------------------------------------ tasks

@dataclasses.dataclass
class FoldContext:
    """Everything a task hook may need about one fold.

    ``train``/``val``/``test`` are indices into ``dataset``; ``folder`` is the fold directory
    (a task may keep files there, e.g. target scalers fitted on the training part).
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
    """Task-specific parts of cross-validation. Subclass and register in :data:`TASKS`.

    Attributes:
        name: the ``experiment.task`` value.
        heads: ``model.head`` values allowed for this task.
        metrics: metric keys summarised as mean +- std over folds, in table order.
        headers: metric key -> column header of the Markdown table.
        headline: the metric named in progress lines and used to sort comparisons.
        monitor, mode: what early stopping watches.
        oof_columns: task columns of ``oof.csv`` after index, system_id, label, kind.
    """

    name = "task"
    heads: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    headers: dict[str, str] = {}
    headline = "loss"
    monitor = "val_loss"
    mode = "min"
    oof_columns: tuple[str, ...] = ()

    def check_config(self, exp) -> None:
        """Refuse settings that cannot work for this task (before loading data)."""
        if self.heads and exp.model.head not in self.heads:
            fail("model.head", exp.model.head, f"one of {', '.join(map(repr, self.heads))} for "
                 f"experiment.task = {self.name!r}")

    def select(self, exp, dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(indices, strata, groups)``: images used, labels to stratify on and groups (all
        arrays of length N except ``indices``). Refuse unusable data here."""
        raise NotImplementedError

    def n_targets(self, exp) -> int | None:
        return None

    def train_targets(self, ctx: FoldContext):
        """``(targets, label_fn)`` for :class:`~lensfind.data.sequence.AugmentedSequence`."""
        raise NotImplementedError

    def prepare_model(self, ctx: FoldContext, model):
        """Adjust a freshly built, compiled model for this fold (e.g. store the training fold's
        target whitening and recompile); called only when the fold does not resume."""
        return model

    def validation_targets(self, ctx: FoldContext) -> np.ndarray:
        raise NotImplementedError

    def predict(self, ctx: FoldContext, model) -> dict[str, np.ndarray]:
        """Columns of ``oof.csv`` (one value per test image) from the final model."""
        raise NotImplementedError

    def fold_metrics(self, ctx: FoldContext, columns: dict[str, np.ndarray]) -> dict[str, float]:
        raise NotImplementedError

    def pooled_metrics(self, oof: dict[str, np.ndarray]) -> dict[str, float]:
        """Metrics of all out-of-fold predictions together (``oof`` as read from the CSVs)."""
        return {}

    def plots(self, run: RunDir, folds: list[dict], oof: dict[int, dict[str, np.ndarray]],
              out: Path) -> list[Path]:
        """Task plots besides the learning curves; return the files written."""
        return []


class ClassifyTask(Task):
    """Lens finding: labels 1 = lens, 0 = non-lens; score = P(lens)."""

    name = "classify"
    heads = ("classifier",)
    metrics = ("roc_auc", "f1", "accuracy", "tpr_fpr0", "tpr_fpr1e-2", "tpr_fpr1e-3")
    headers = {"roc_auc": "ROC AUC", "f1": "F1", "accuracy": "Accuracy",
               "tpr_fpr0": "TPR (FPR=0)", "tpr_fpr1e-2": "TPR (FPR<=1e-2)",
               "tpr_fpr1e-3": "TPR (FPR<=1e-3)"}
    headline = "roc_auc"
    oof_columns = ("score",)

    def select(self, exp, dataset):
        labels = getattr(dataset, "labels", None)
        if labels is None or len(labels) == 0:
            raise ConfigError("the data set has no labels: lens finding needs a label per image "
                              "(1 = lens, 0 = non-lens)")
        labels = np.asarray(labels)
        bad = sorted(set(np.unique(labels).tolist()) - {0, 1})
        if bad:
            raise ConfigError(f"the data set has labels {bad[:5]}: expected only 1 (lens) and "
                              "0 (non-lens); unlabelled images cannot be cross-validated")
        return np.arange(len(labels)), labels.astype(np.int64), np.asarray(dataset.system_id)

    def train_targets(self, ctx):
        return np.asarray(ctx.dataset.labels, dtype=np.int32), None

    def validation_targets(self, ctx):
        return np.asarray(ctx.dataset.labels[ctx.val], dtype=np.int32)

    def predict(self, ctx, model):
        x = np.asarray(ctx.dataset.images[ctx.test], dtype=np.float32)[..., None]
        p = np.asarray(model.predict(x, batch_size=ctx.exp.train.batch_size, verbose=0))
        score = p[:, -1] if p.ndim == 2 else p.ravel()
        return {"score": score.astype(np.float64)}

    def fold_metrics(self, ctx, columns):
        from lensfind.evaluate.metrics import classification_metrics
        return classification_metrics(ctx.dataset.labels[ctx.test], columns["score"])

    def pooled_metrics(self, oof):
        from lensfind.evaluate.metrics import classification_metrics
        return classification_metrics(oof["label"], oof["score"])

    def plots(self, run, folds, oof, out):
        from lensfind.evaluate.plots import plot_roc
        curves = {k: (cols["label"], cols["score"]) for k, cols in sorted(oof.items())}
        path = out / "roc.png"
        plot_roc(curves, path, title=_title(run))
        return [path]


#: task name -> Task. Other modules add entries (see TASK_MODULES).
TASKS: dict[str, Task] = {"classify": ClassifyTask()}

#: task name -> module that registers it in TASKS when imported (imported on first use).
TASK_MODULES: dict[str, str] = {"regress": "lensfind.train.regress"}


def get_task(name: str) -> Task:
    """The registered :class:`Task` for ``experiment.task``."""
    if name not in TASKS and name in TASK_MODULES:
        try:
            importlib.import_module(TASK_MODULES[name])
        except ImportError as err:
            raise ConfigError(f"experiment.task = {name!r}: its cross-validation hooks "
                              f"({TASK_MODULES[name]}) cannot be imported: {err}") from None
    return lookup(TASKS, name, "experiment.task")


# ---------------------------------------------------------------------------------- results

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
        from lensfind.evaluate.metrics import mean_std
        return mean_std(self.values(metric))[0]


# ----------------------------------------------------------------------------- the run

def check_experiment(exp) -> Task:
    """Refuse settings that cannot run, before loading data or building anything."""
    from lensfind.zoo.backbones import BACKBONES
    from lensfind.zoo.config import REGIMES
    from lensfind.zoo.heads import HEADS
    from lensfind.zoo.model import resolve_input_size, resolve_weights

    task = get_task(exp.experiment.task)
    lookup(BACKBONES, exp.model.backbone, "model.backbone")
    if exp.model.regime not in REGIMES:
        fail("model.regime", exp.model.regime, "one of " + ", ".join(map(repr, REGIMES)))
    lookup(HEADS, exp.model.head, "model.head")
    task.check_config(exp)
    resolve_input_size(exp.model)
    resolve_weights(exp.model)
    return task


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
    return {"master": exp.seed, "folds": _seed(exp.seed, "folds"),
            "validation": [_seed(exp.seed, "validation", i) for i in range(k)],
            "init": [_seed(exp.seed, "init", i) for i in range(k)],
            "shuffle": "numpy SeedSequence([seed, 3, fold, epoch])",
            "augment": "numpy SeedSequence([seed, 4, fold, epoch, batch])"}


def _open_run(exp, run_dir, runs_root, new: bool, out) -> RunDir:
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
    import keras
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
    local = make_folds(strata[indices], groups[indices], k, seed=_seed(exp.seed, "folds"))
    folds = [Fold(f.index, indices[f.train], indices[f.test]) for f in local]
    vals = []
    for f in folds:
        _, val = validation_split(strata, groups, f.train, fraction=VALIDATION_FRACTION,
                                  seed=_seed(exp.seed, "validation", f.index))
        vals.append(val)
    data = {"k": k, "seed": exp.seed, "fingerprint": fingerprint, "n_images": len(dataset),
            "n_used": int(len(indices)), "validation_fraction": VALIDATION_FRACTION,
            "folds": [{**f.to_dict(), "val": v.tolist()} for f, v in zip(folds, vals)]}
    write_json(run.folds_path, data)
    return folds, vals


def _seed(seed: int, *keys) -> int:
    from lensfind.seeds import derive_seed
    return derive_seed(seed, *keys)


def _default_build(exp, input_shape, n_targets):
    from lensfind.zoo.model import build_model, compile_model
    model = build_model(config=exp.model, input_shape=input_shape, n_targets=n_targets)
    return compile_model(model, config=exp.model, train=exp.train, n_targets=n_targets)


def _write_oof(path: Path, dataset, test: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(columns)
    w.writerow(["index", "system_id", "label", "kind", *names])
    for j, i in enumerate(test):
        w.writerow([int(i), int(dataset.system_id[i]), int(dataset.labels[i]),
                    str(dataset.kinds[i]),
                    *(repr(float(columns[n][j])) for n in names)])
    atomic_write_text(path, buf.getvalue())


def read_oof(path: Path) -> dict[str, np.ndarray]:
    """``oof.csv`` as columns (numbers as arrays, ``kind`` as strings)."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key == "kind":
            out[key] = np.asarray(values, dtype=str)
        elif key in ("index", "system_id", "label"):
            out[key] = np.asarray(values, dtype=np.int64)
        else:
            out[key] = np.asarray(values, dtype=np.float64)
    return out


def _count_params(model) -> tuple[int, int]:
    try:
        from lensfind.zoo.backbones import count_params
        return count_params(model)
    except ImportError:  # pragma: no cover
        return int(model.count_params()), sum(int(np.prod(w.shape)) for w in
                                              model.trainable_weights)


def _run_fold(exp, task: Task, dataset, run: RunDir, fold: Fold, val: np.ndarray, *,
              build, callbacks, progress, out) -> FoldResult:
    import keras

    from lensfind.data.sequence import AugmentedSequence
    from lensfind.train.callbacks import BEST_WEIGHTS, CHECKPOINT
    from lensfind.seeds import set_random_seed
    from lensfind.train.fit import FINAL_MODEL, fit_fold

    k = exp.train.folds
    folder = run.fold_dir(fold.index)
    train_fit = np.setdiff1d(fold.train, val)
    ctx = FoldContext(exp=exp, dataset=dataset, fold=fold.index, k=k, train=train_fit, val=val,
                      test=fold.test, folder=folder)
    label = f"[{exp.name} fold {fold.index + 1}/{k}]"
    keras.backend.clear_session()
    set_random_seed(_seed(exp.seed, "init", fold.index))  # no TensorFlow import under JAX
    targets, label_fn = task.train_targets(ctx)
    seq = AugmentedSequence(dataset.images, targets, train_fit, batch_size=exp.train.batch_size,
                            seed=exp.seed, fold=fold.index, augment=exp.train.augment,
                            shuffle=True, label_fn=label_fn)
    x_val = np.asarray(dataset.images[val], dtype=np.float32)[..., None]
    y_val = task.validation_targets(ctx)
    input_shape = tuple(dataset.images.shape[1:]) + (1,)
    n_targets = task.n_targets(exp)
    if progress:
        print(f"{label} train {len(train_fit)}, validation {len(val)}, test {len(fold.test)} "
              "images", file=out, flush=True)
    t0 = time.perf_counter()
    result = fit_fold(lambda: task.prepare_model(ctx, build(exp, input_shape, n_targets)),
                      seq, (x_val, y_val), folder,
                      epochs=exp.train.epochs, patience=exp.train.patience,
                      monitor=task.monitor, mode=task.mode, batch_size=exp.train.batch_size,
                      callbacks=callbacks, progress=progress, label=label, stream=out,
                      precision=exp.train.mixed_precision, distribute=exp.train.distribute,
                      checkpoint_every_s=exp.train.checkpoint_every_s)
    model = result.model
    columns = task.predict(ctx, model)
    metrics = task.fold_metrics(ctx, columns)
    total, trainable = _count_params(model)
    model.save(folder / f"{FINAL_MODEL}.tmp.keras")
    (folder / f"{FINAL_MODEL}.tmp.keras").replace(folder / FINAL_MODEL)
    _write_oof(folder / "oof.csv", dataset, fold.test, columns)
    hist = result.history
    cpu = [h.get("cpu_seconds") for h in hist if h.get("cpu_seconds") is not None]
    wall = [h.get("seconds") for h in hist if h.get("seconds") is not None]
    info = {
        "fold": fold.index, "k": k, "metrics": metrics,
        "n_train": int(len(train_fit)), "n_val": int(len(val)), "n_test": int(len(fold.test)),
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
        print(f"{label} done: {task.headline} = {_fmt(head, 4)} (best epoch "
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
        from lensfind.data.build import load_dataset
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
    run = _open_run(exp, run_dir, runs_root, new, out)
    all_folds, vals = _folds_for(run, exp, task, dataset)
    _setup_determinism(deterministic)
    build = build or _default_build
    todo = folds if folds is not None else list(range(k))
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


# --------------------------------------------------------------------------------- summary

def _title(run: RunDir) -> str:
    return f"{run.info.get('experiment', run.path.parent.name)} ({run.path.name})"


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return "--"
    return f"{value:.{digits}f}"


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
    from lensfind.evaluate.metrics import mean_std

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
        "per_fold": [{"fold": r.fold, **r.metrics, "epochs": r.info.get("epochs"),
                      "best_epoch": r.info.get("best_epoch")} for r in results],
    }
    write_json(run.path / "summary.json", summary)
    atomic_write_text(run.path / "summary.csv", summary_csv([summary]))
    atomic_write_text(run.path / "summary.md", summary_markdown([summary]))
    if plots:
        from lensfind.evaluate.plots import plot_learning_curves
        pdir = run.path / "plots"
        pdir.mkdir(exist_ok=True)
        histories = {i: read_history(run.fold_dir(i)) for i in done}
        plot_learning_curves(histories, pdir / "learning_curves.png", title=_title(run))
        task.plots(run, summary["per_fold"], oof, pdir)
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
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * len(cols)) + "|"]
    for s in summaries:
        cells = [s["model"], s["regime"], _millions(s["parameters"]),
                 _millions(s["trainable_parameters"])]
        for m in order:
            v = s["metrics"].get(m)
            cells.append("--" if v is None else f"{_fmt(v['mean'])} ± {_fmt(v['std'])}")
        cells.append(f"{s['folds_finished']}/{s['folds']}")
        lines.append("| " + " | ".join(cells) + " |")
    s0 = summaries[0] if summaries else {}
    note = ("\nMean ± standard deviation over the test folds of a stratified, groups-aware "
            "k-fold cross-validation. TPR (FPR<=f): fraction of lenses scored above all but "
            "floor(f N_neg) non-lenses (see lensfind.evaluate.metrics).\n")
    if s0.get("task") != "classify":
        note = "\nMean ± standard deviation over the test folds.\n"
    return "\n".join(lines) + "\n" + note


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
    from lensfind.evaluate.plots import plot_comparison
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


# ------------------------------------------------------------------------------------- CLI

def cv_command(args) -> int:
    """``lensfind cv EXPERIMENT.toml [--small] [--set K=V] [--fold k] [--run-dir DIR]``."""
    from lensfind.config import load_experiment
    exp = load_experiment(args.experiment, small=args.small, overrides=args.overrides)
    result = run_cv(exp, run_dir=args.run_dir, folds=args.fold or None,
                    runs_root=args.runs_dir, new=args.new)
    print(f"lensfind cv: run directory {result.run_dir}")
    return 0


def aggregate_command(args) -> int:
    """``lensfind aggregate RUN_DIR``."""
    aggregate(args.run_dir)
    return 0


def compare_command(args) -> int:
    """``lensfind compare [RUN_DIR ...] --out DIR`` (default: latest finished run of each
    experiment under ``--runs``)."""
    dirs = args.run_dirs or finished_runs(args.runs_dir, args.experiments or None)
    if not dirs:
        raise ConfigError(f"compare: no finished runs under {args.runs_dir}/ (run `lensfind cv` "
                          "first, or name run directories)")
    compare_runs(dirs, args.out or Path(args.runs_dir) / "compare")
    return 0
