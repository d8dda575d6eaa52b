"""The ``"substructure"`` task: which dark matter shapes a lens -- a K-class classifier.

After the DeepLense substructure study (``../shared/reference/deeplense-substructure-
classification.txt``): every lens of the set carries a class drawn by the simulator from
``[simulation.substructure] classes`` (e.g. ``no_sub``, ``cdm`` subhalos, ``axion`` vortices;
:mod:`lensfind.sim.config`), recorded as the parameter ``substructure`` (the class index).
Non-lenses take no part.

* folds are stratified on the class (and grouped by ``system_id`` as always);
* the head is ``"softmax"`` with one output per class, trained with the categorical loss;
* a fold predicts its test images with one deterministic pass and writes the true ``class``
  index and ``p_<class>`` per image to ``oof.csv``; its metrics are accuracy, macro ROC AUC and
  macro F1 (the summary table), and per class the one-vs-rest AUC and F1
  (:mod:`lensfind.evaluate.multiclass`);
* the run's plots: ROC per class + macro average and the confusion matrix of the pooled
  out-of-fold predictions (``plots/substructure.png``), and the per-class table and confusion
  matrix as Markdown (``substructure.md``);
* scoring: ``p_<class>_<member>`` per candidate, the mean over the member's samples.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.evaluate.metrics import mean_std
from lensfind.evaluate.multiclass import (confusion_markdown, confusion_matrix,
                                          multiclass_metrics, plot_multiclass)
from lensfind.files import atomic_write_text, fmt, markdown_table
from lensfind.tasks.base import FoldContext, Task
from lensfind.validation import ConfigError, fail
from lensfind.zoo.config import MULTICLASS_HEADS
from lensfind.zoo.sampling import predict_once

#: the data set's parameter holding each lens's class index
CLASS_PARAM = "substructure"


def class_names(exp) -> tuple[str, ...]:
    """The classes of ``exp``, in index order (``simulation.substructure.classes``)."""
    return tuple(exp.simulation.substructure.classes)


class SubstructureTask(Task):
    """Dark-matter substructure classes of lenses (see the module docstring)."""

    name = "substructure"
    heads = MULTICLASS_HEADS
    metrics = ("accuracy", "macro_auc", "macro_f1", "log_loss")
    headers = {"accuracy": "Accuracy", "macro_auc": "Macro ROC AUC", "macro_f1": "Macro F1",
               "log_loss": "Test loss (nats)"}
    headline = "macro_auc"
    summary_note = ("Mean ± standard deviation over the test folds of a stratified, groups-aware "
                    "k-fold cross-validation of the substructure class of each lens. Macro ROC "
                    "AUC: mean of the one-vs-rest AUCs of the classes (per class in "
                    "substructure.md).")
    tune_objectives = ("val_loss",)
    tune_objective_choices = ("val_loss",)
    tune_monitor = "val_loss"

    def check_config(self, exp) -> None:
        super().check_config(exp)
        names = class_names(exp)
        if len(names) < 2:
            fail("simulation.substructure.classes", list(names),
                 "at least two class names for experiment.task = 'substructure'")

    def n_targets(self, exp) -> int:
        return len(class_names(exp))

    def _classes(self, dataset, exp) -> np.ndarray:
        if CLASS_PARAM not in dataset.params:
            source = getattr(dataset, "path", None) or "the data set"
            raise ConfigError(f"{source} has no parameter {CLASS_PARAM!r}: simulate it with "
                              "[simulation.substructure] classes = [...] (e.g. no_sub, cdm, axion)")
        values = np.asarray(dataset.params[CLASS_PARAM], np.float64)
        k = len(class_names(exp))
        lenses = np.asarray(dataset.labels) == 1
        bad = lenses & ~(np.isfinite(values) & (values >= 0) & (values < k))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ConfigError(f"image {i}: {CLASS_PARAM} = {values[i]!r} is invalid: expected a "
                              f"class index in 0..{k - 1} ({', '.join(class_names(exp))})")
        return np.where(lenses, np.nan_to_num(values, nan=-1), -1).astype(np.int64)

    def select(self, exp, dataset):
        classes = self._classes(dataset, exp)
        indices = np.flatnonzero(classes >= 0)
        if indices.size == 0:
            raise ConfigError("the data set has no lenses (label 1): no substructure to classify")
        return indices, classes, np.asarray(dataset.system_id)

    def train_targets(self, ctx: FoldContext):
        return np.maximum(self._classes(ctx.dataset, ctx.exp), 0).astype(np.int32), None

    def validation_targets(self, ctx: FoldContext):
        return self._classes(ctx.dataset, ctx.exp)[ctx.val].astype(np.int32)

    def predict(self, ctx: FoldContext, model):
        images = np.asarray(ctx.dataset.images[ctx.test], np.float32)
        probs = predict_once(model, images, batch_size=ctx.exp.train.batch_size)
        truth = self._classes(ctx.dataset, ctx.exp)[ctx.test]
        return {"class": truth.astype(np.float64),
                **{f"p_{name}": probs[:, k] for k, name in enumerate(class_names(ctx.exp))}}

    def _probs(self, names: Sequence[str], columns) -> np.ndarray:
        return np.stack([np.asarray(columns[f"p_{n}"], np.float64) for n in names], axis=1)

    def fold_metrics(self, ctx: FoldContext, columns):
        names = class_names(ctx.exp)
        return multiclass_metrics(columns["class"], self._probs(names, columns), names)

    def _pooled(self, oof) -> tuple[tuple[str, ...], np.ndarray, np.ndarray] | None:
        names = tuple(k[2:] for k in oof if k.startswith("p_"))
        if not names or "class" not in oof:
            return None
        return names, np.asarray(oof["class"], np.int64), self._probs(names, oof)

    def pooled_metrics(self, oof):
        pooled = self._pooled(oof)
        return {} if pooled is None else multiclass_metrics(pooled[1], pooled[2], pooled[0])

    def plots(self, run_path: Path, title: str, oof, out: Path) -> list[Path]:
        parts = [self._pooled(cols) for _, cols in sorted(oof.items())]
        parts = [p for p in parts if p is not None]
        if not parts:
            return []
        names = parts[0][0]
        labels = np.concatenate([p[1] for p in parts])
        probs = np.concatenate([p[2] for p in parts])
        path = plot_multiclass(labels, probs, names, out / "substructure.png",
                               title=f"{title}: pooled out-of-fold predictions")
        per_fold = [multiclass_metrics(p[1], p[2], names) for p in parts]
        rows = []
        for name in names:
            cells = [name, str(int(np.sum(labels == names.index(name))))]
            for key in (f"auc_{name}", f"f1_{name}"):
                mean, std = mean_std([m[key] for m in per_fold])
                cells.append(f"{fmt(mean)} ± {fmt(std)}")
            rows.append(cells)
        text = (f"# {title}: substructure classes\n\nPer class, one vs rest; mean ± std over "
                f"the {len(parts)} test folds.\n\n"
                + markdown_table(["class", "images", "ROC AUC", "F1"], rows)
                + "\nConfusion matrix of the pooled out-of-fold predictions (arg-max class):\n\n"
                + confusion_markdown(confusion_matrix(labels, probs, names), names))
        atomic_write_text(Path(run_path) / "substructure.md", text)
        return [path]

    # ---------------------------------------------------------------------------- scoring
    def member_targets(self, exp, models):
        names = class_names(exp)
        for k, model in enumerate(models):
            width = model.output_shape[-1]
            if width != len(names):
                raise ValueError(f"substructure fold model {k} has {width} outputs; expected "
                                 f"{len(names)} (classes {', '.join(names)})")
        return names

    def score_columns(self, label, targets):
        return [f"p_{name}_{label}" for name in targets]

    def score_values(self, label, targets, head, samples):
        mean = samples.mean(axis=0)
        return {f"p_{name}_{label}": mean[:, k] for k, name in enumerate(targets)}
