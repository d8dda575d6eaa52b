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

#: key of the split's random stream (CV validation splits use the fold index 0..k-1)
HOLDOUT_STREAM = 9001


def holdout_split(exp, dataset, task=None) -> tuple[np.ndarray, np.ndarray]:
    """``(train, validation)`` indices of the fixed split of ``exp`` (``[tune] holdout_fraction``)."""
    from lensfind.seeds import derive_seed
    from lensfind.data.folds import validation_split
    from lensfind.train.cv import get_task
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
    import keras

    from lensfind.seeds import derive_seed
    from lensfind.data.sequence import AugmentedSequence
    from lensfind.train.cv import FoldContext, check_experiment
    from lensfind.seeds import set_random_seed
    from lensfind.train.fit import fit_fold
    from lensfind.train.rundir import write_json
    from lensfind.zoo.model import build_model, compile_model

    out = stream or sys.stdout
    folder = Path(folder)
    task = check_experiment(exp)
    if dataset is None:
        from lensfind.data.build import load_dataset
        dataset = load_dataset(exp, progress=progress)
    train, val = holdout_split(exp, dataset, task)
    ctx = FoldContext(exp=exp, dataset=dataset, fold=0, k=1, train=train, val=val, test=val,
                      folder=folder)
    folder.mkdir(parents=True, exist_ok=True)
    keras.backend.clear_session()
    set_random_seed(derive_seed(exp.seed, "init", 0))
    targets, label_fn = task.train_targets(ctx)
    seq = AugmentedSequence(dataset.images, targets, train, batch_size=exp.train.batch_size,
                            seed=exp.seed, fold=0, augment=exp.train.augment, shuffle=True,
                            label_fn=label_fn)
    x_val = np.asarray(dataset.images[val], dtype=np.float32)[..., None]
    y_val = task.validation_targets(ctx)
    input_shape = tuple(dataset.images.shape[1:]) + (1,)
    n_targets = task.n_targets(exp)

    def build():
        model = build_model(config=exp.model, input_shape=input_shape, n_targets=n_targets)
        model = compile_model(model, config=exp.model, train=exp.train, n_targets=n_targets)
        return task.prepare_model(ctx, model) if hasattr(task, "prepare_model") else model

    label = f"[{exp.name} holdout]"
    if progress:
        print(f"{label} train {len(train)}, validation {len(val)} images", file=out, flush=True)
    result = fit_fold(build, seq, (x_val, y_val), folder, epochs=exp.train.epochs,
                      patience=exp.train.patience, monitor=task.monitor, mode=task.mode,
                      batch_size=exp.train.batch_size, callbacks=callbacks, progress=progress,
                      label=label, tensorboard=False, stream=out,
                      precision=exp.train.mixed_precision, distribute=exp.train.distribute,
                      checkpoint_every_s=exp.train.checkpoint_every_s)
    # score the validation part as the "test" of this fit, without a separate recalibration
    # split (that would be the same images again)
    scored = dataclasses.replace(ctx, val=np.zeros(0, np.int64))
    columns = task.predict(scored, result.model)
    metrics = dict(task.fold_metrics(scored, columns))
    metrics.update(epochs=len(result.history), best_epoch=result.best_epoch,
                   n_train=int(len(train)), n_val=int(len(val)))
    write_json(folder / "metrics.json", {"metrics": metrics, "monitor": task.monitor})
    return metrics
