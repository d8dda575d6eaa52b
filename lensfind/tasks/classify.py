"""The ``"classify"`` task: lens finding. Labels 1 = lens, 0 = non-lens; score = P(lens).

Folds are stratified on the label. A fold predicts its test images with one deterministic pass
(:func:`~lensfind.zoo.sampling.predict_once`) and reports ROC AUC, F1,
accuracy and the TPR at fixed false-positive rates (:mod:`lensfind.evaluate.metrics`). When
scoring, every member's ``S`` samples (folds x MC-dropout passes) give ``p_lens_<member>`` and
its spread, and the samples of all classifier members are pooled into ``p_lens`` /
``p_lens_std``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.evaluate.metrics import classification_metrics
from lensfind.evaluate.plots import plot_roc
from lensfind.tasks.base import FoldContext, Task
from lensfind.validation import ConfigError
from lensfind.zoo.config import CLASSIFIER_HEADS
from lensfind.zoo.sampling import predict_once


def _p_lens(samples: np.ndarray) -> np.ndarray:
    """P(lens) of softmax samples ``(S, n, 2)``: the second output."""
    return samples[..., 1]


class ClassifyTask(Task):
    """Lens finding (see the module docstring)."""

    name = "classify"
    heads = CLASSIFIER_HEADS
    metrics = ("roc_auc", "f1", "accuracy", "tpr_fpr0", "tpr_fpr1e-2", "tpr_fpr1e-3")
    headers = {"roc_auc": "ROC AUC", "f1": "F1", "accuracy": "Accuracy",
               "tpr_fpr0": "TPR (FPR=0)", "tpr_fpr1e-2": "TPR (FPR<=1e-2)",
               "tpr_fpr1e-3": "TPR (FPR<=1e-3)"}
    headline = "roc_auc"
    summary_note = ("Mean ± standard deviation over the test folds of a stratified, groups-aware "
                    "k-fold cross-validation. TPR (FPR<=f): fraction of lenses scored above all "
                    "but floor(f N_neg) non-lenses (see lensfind.evaluate.metrics).")
    tune_objectives = ("auc",)
    tune_objective_choices = ("auc", "val_loss")
    tune_monitor = "val_auc"
    committee_columns = ("p_lens", "p_lens_std")

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

    def train_targets(self, ctx: FoldContext):
        return np.asarray(ctx.dataset.labels, dtype=np.int32), None

    def validation_targets(self, ctx: FoldContext):
        return np.asarray(ctx.dataset.labels[ctx.val], dtype=np.int32)

    def predict(self, ctx: FoldContext, model):
        images = np.asarray(ctx.dataset.images[ctx.test], dtype=np.float32)
        return {"score": _p_lens(predict_once(model, images, batch_size=ctx.exp.train.batch_size))}

    def fold_metrics(self, ctx: FoldContext, columns):
        return classification_metrics(ctx.dataset.labels[ctx.test], columns["score"])

    def pooled_metrics(self, oof):
        return classification_metrics(oof["label"], oof["score"])

    def plots(self, run_path: Path, title: str, oof, out: Path) -> list[Path]:
        curves = {k: (cols["label"], cols["score"]) for k, cols in sorted(oof.items())}
        path = out / "roc.png"
        plot_roc(curves, path, title=title)
        return [path]

    # ---------------------------------------------------------------------------- scoring
    def member_targets(self, exp, models):
        for k, model in enumerate(models):
            width = model.output_shape[-1]
            if width != 2:
                raise ValueError(f"classifier fold model {k} has {width} outputs; expected 2 "
                                 "(softmax: non-lens, lens)")
        return ()

    def score_columns(self, label: str, targets: Sequence[str]) -> list[str]:
        return [f"p_lens_{label}", f"p_lens_std_{label}"]

    def score_values(self, label, targets, head, samples):
        p = _p_lens(samples)
        return {f"p_lens_{label}": p.mean(axis=0), f"p_lens_std_{label}": p.std(axis=0)}

    def committee_values(self, samples):
        p = np.concatenate([_p_lens(s) for s in samples])
        return {"p_lens": p.mean(axis=0), "p_lens_std": p.std(axis=0)}
