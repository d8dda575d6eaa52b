"""Metrics and plots of a K-class classifier (e.g. dark-matter substructure: no_sub, cdm, axion).

Definitions (``labels``: class indices 0..K-1; ``probs``: (N, K) softmax outputs):

* **accuracy** -- fraction whose arg-max class is the true one.
* **per-class ROC AUC** (``auc_<name>``) -- one-vs-rest: class k against all others, scored by
  ``probs[:, k]`` (:func:`lensfind.evaluate.metrics.roc_auc`); **macro AUC** is their mean (the
  DeepLense study's "macro ROC AUC", scikit-learn's ``multi_class="ovr", average="macro"``).
* **per-class F1** (``f1_<name>``) -- of the arg-max predictions, 2 TP / (2 TP + FP + FN) with
  class k as positive; **macro F1** their mean.
* **confusion matrix** ``C[i, j]`` -- images of true class i predicted as class j.
* **log loss** -- mean categorical cross-entropy ``-ln probs[i, labels[i]]`` (nats, each
  probability clipped at 1e-7 as Keras does): the study's "test loss".
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.evaluate.metrics import roc_auc, roc_points
from lensfind.files import fmt, markdown_table


def _check(labels, probs, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(np.int64).ravel()
    probs = np.asarray(probs, np.float64)
    k = len(names)
    if probs.ndim != 2 or probs.shape != (labels.size, k):
        raise ValueError(f"probabilities of shape {probs.shape} do not fit {labels.size} labels "
                         f"and the {k} classes {list(names)}")
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"class indices must be in 0..{k - 1} ({', '.join(names)}); received "
                         f"{sorted(set(labels.tolist()))}")
    if not np.isfinite(probs).all():
        raise ValueError("probabilities contain NaN or infinity")
    return labels, probs


def confusion_matrix(labels, probs, names: Sequence[str]) -> np.ndarray:
    """``C[i, j]``: images of true class i whose arg-max class is j, (K, K) integers."""
    labels, probs = _check(labels, probs, names)
    k = len(names)
    return np.bincount(labels * k + probs.argmax(axis=1), minlength=k * k).reshape(k, k)


def multiclass_metrics(labels, probs, names: Sequence[str]) -> dict[str, float]:
    """``accuracy``, ``macro_auc``, ``macro_f1``, ``log_loss`` and ``auc_<name>``,
    ``f1_<name>`` per class."""
    labels, probs = _check(labels, probs, names)
    matrix = confusion_matrix(labels, probs, names)
    out: dict[str, float] = {"accuracy": float(np.trace(matrix) / max(matrix.sum(), 1))}
    picked = probs[np.arange(labels.size), labels]
    out["log_loss"] = float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0)))) if labels.size \
        else math.nan
    aucs, f1s = [], []
    for k, name in enumerate(names):
        auc = roc_auc(labels == k, probs[:, k])
        tp = matrix[k, k]
        fp = matrix[:, k].sum() - tp
        fn = matrix[k, :].sum() - tp
        f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0
        out[f"auc_{name}"], out[f"f1_{name}"] = float(auc), float(f1)
        aucs.append(auc)
        f1s.append(f1)
    out["macro_auc"] = float(np.mean(aucs)) if not any(map(math.isnan, aucs)) else math.nan
    out["macro_f1"] = float(np.mean(f1s))
    return out


def confusion_markdown(matrix: np.ndarray, names: Sequence[str]) -> str:
    """The confusion matrix as a Markdown table (rows: true class, columns: predicted)."""
    rows = [[f"**{name}**", *map(str, row), fmt(row[i] / max(row.sum(), 1), ".3f")]
            for i, (name, row) in enumerate(zip(names, matrix))]
    return markdown_table(["true \\ predicted", *names, "recall"], rows)


def plot_multiclass(labels, probs, names: Sequence[str], path: str | Path, *,
                    title: str = "") -> Path:
    """One-vs-rest ROC curves per class plus their macro average (left), confusion matrix
    normalised per true class (right); one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels, probs = _check(labels, probs, names)
    path = Path(path)
    fig, (ax, cm_ax) = plt.subplots(1, 2, figsize=(11, 4.8))
    grid = np.linspace(0, 1, 201)
    curves = []
    for k, name in enumerate(names):
        if len(np.unique(labels == k)) < 2:
            continue
        fpr, tpr = roc_points(labels == k, probs[:, k])
        curves.append(np.interp(grid, fpr, tpr))
        ax.step(fpr, tpr, where="post", lw=1.4,
                label=f"{name}: AUC {roc_auc(labels == k, probs[:, k]):.3f}")
    if curves:
        macro = np.mean(curves, axis=0)
        ax.plot(grid, macro, "k--", lw=1.6,
                label=f"macro average: AUC {np.trapezoid(macro, grid):.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey", lw=1)
    ax.set(xlabel="false-positive rate (one vs rest)", ylabel="true-positive rate",
           xlim=(0, 1), ylim=(0, 1.01), title="ROC per class")
    ax.legend(loc="lower right", fontsize=8)
    matrix = confusion_matrix(labels, probs, names)
    share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    cm_ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            cm_ax.text(j, i, f"{matrix[i, j]}\n{share[i, j]:.2f}", ha="center", va="center",
                       color="white" if share[i, j] > 0.6 else "black", fontsize=9)
    cm_ax.set(xticks=range(len(names)), yticks=range(len(names)), xticklabels=names,
              yticklabels=names, xlabel="predicted class", ylabel="true class",
              title="confusion matrix (count, share of true class)")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
