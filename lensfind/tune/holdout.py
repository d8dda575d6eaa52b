"""One fit on a fixed train/validation split: the fast objective of ``[tune] mode = "holdout"``.

The split is stratified and groups-aware (all images of one simulated system on one side), made
from the experiment's seed alone, so every trial of a study sees the same images. The validation
part drives early stopping and is what the trial is scored on (the test folds of a later
``lensfind cv`` of the best configuration give the unbiased estimate). The task hooks of
:mod:`lensfind.train.cv` (targets, predictions, metrics) are reused, so lens finding and
regression are handled exactly as in cross-validation.
"""
from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.data.build import load_dataset
from lensfind.data.folds import validation_split
from lensfind.files import write_json
from lensfind.seeds import derive_seed
from lensfind.tasks import FoldContext, Task, get_task
from lensfind.train.fit import check_experiment, fit_split

#: key of the split's random stream (CV validation splits use the fold index 0..k-1)
HOLDOUT_STREAM = 9001


def holdout_split(exp, dataset, task: Task | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` indices of the fixed split of ``exp`` (``[tune] holdout_fraction``)."""
    task = task or get_task(exp.experiment.task)
    indices, strata, groups = task.select(exp, dataset)
    return validation_split(strata, groups, np.asarray(indices), fraction=exp.tune.holdout_fraction,
                            seed=derive_seed(exp.seed, "validation", HOLDOUT_STREAM))


def holdout_fit(exp, folder: str | Path, *, dataset=None, callbacks: Sequence = (),
                progress: bool = True, stream=None) -> dict[str, Any]:
    """Train ``exp``'s network on the fixed split's training part; metrics on its validation part.

    Writes the fit's files (``history.csv``, ``checkpoint.keras``, ``state.json``,
    ``metrics.json``) into ``folder``; an interrupted fit resumes from its last epoch.

    Returns:
        The task's metrics of the validation predictions (classification: ``roc_auc``, ``f1``,
        ...; regression: ``nll``, ``coverage_{1,2,3}sigma``, ``error68_<param>``, ...) plus
        ``epochs``, ``best_epoch`` and ``n_train``/``n_val``.
    """
    out = stream or sys.stdout
    folder = Path(folder)
    task = check_experiment(exp)
    if dataset is None:
        dataset = load_dataset(exp, progress=progress)
    train, val = holdout_split(exp, dataset, task)
    ctx = FoldContext(exp=exp, dataset=dataset, fold=0, k=1, train=train, val=val, test=val,
                      folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    label = f"[{exp.name} holdout]"
    if progress:
        print(f"{label} train {len(train)}, validation {len(val)} images", file=out, flush=True)
    result = fit_split(exp, task, ctx, callbacks=callbacks, progress=progress, label=label,
                       tensorboard=False, stream=out)
    # score the validation part as the "test" of this fit, without a separate recalibration
    # split (that would be the same images again)
    scored = dataclasses.replace(ctx, val=np.zeros(0, np.int64))
    columns = task.predict(scored, result.model)
    metrics = dict(task.fold_metrics(scored, columns))
    metrics.update(epochs=len(result.history), best_epoch=result.best_epoch,
                   n_train=int(len(train)), n_val=int(len(val)))
    write_json(folder / "metrics.json", {"metrics": metrics, "monitor": task.monitor})
    return metrics
