"""Lens-finding metrics: ROC AUC, F1, accuracy and the true-positive rate at a fixed low FPR.

Definitions (``labels``: 1 = lens, 0 = non-lens; ``scores``: the model's P(lens), higher = more
lens-like):

* **ROC AUC** -- area under the ROC curve (``sklearn.metrics.roc_auc_score``); ties count half.
* **accuracy** and **F1** -- at the fixed decision threshold ``score >= 0.5`` (the 2-way softmax's
  arg-max). F1 = 2 TP / (2 TP + FP + FN); 0 when there are no predicted and no true lenses.
* **TPR at FPR <= f** (``tpr_fpr0``, ``tpr_fpr1e-2``, ``tpr_fpr1e-3``) -- the largest fraction
  of lenses that can be recovered while at most ``m = floor(f * N_neg)`` non-lenses are accepted,
  as in the Strong Gravitational Lens Finding Challenge (Metcalf et al. 2019, "TPR_0" and
  "TPR_10"). Concretely the threshold ``t`` is the ``(m+1)``-th highest non-lens score and a lens
  counts as found if its score is *strictly* above ``t``; so ``tpr_fpr0`` is the fraction of
  lenses scored above every non-lens. With ``N_neg`` non-lenses the FPR resolution is
  ``1 / N_neg``: when ``f * N_neg < 1`` the value equals ``tpr_fpr0`` (``fpr_resolution`` is
  reported alongside so small test folds are not over-read).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

#: FPR limits reported for every fold: metric name -> maximum false-positive rate.
TPR_AT_FPR: dict[str, float] = {"tpr_fpr0": 0.0, "tpr_fpr1e-2": 1e-2, "tpr_fpr1e-3": 1e-3}

#: Threshold on P(lens) for accuracy and F1.
THRESHOLD = 0.5


def _check(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    labels = np.asarray(labels).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if labels.shape != scores.shape:
        raise ValueError(f"labels ({labels.size}) and scores ({scores.size}) differ in length")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError(f"labels must be 0 or 1; received {sorted(set(labels.tolist()))}")
    if not np.isfinite(scores).all():
        raise ValueError("scores contain NaN or infinity")
    return labels, scores


def tpr_at_fpr(labels, scores, max_fpr: float) -> float:
    """Largest TPR with FPR <= ``max_fpr`` (see the module docstring for the exact rule)."""
    labels, scores = _check(labels, scores)
    neg = np.sort(scores[labels == 0])[::-1]
    pos = scores[labels == 1]
    if pos.size == 0:
        return math.nan
    if neg.size == 0:
        return 1.0
    m = int(math.floor(max_fpr * neg.size + 1e-9))
    if m >= neg.size:
        return 1.0
    return float(np.mean(pos > neg[m]))


def roc_auc(labels, scores) -> float:
    """ROC AUC, NaN if only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels, scores = _check(labels, scores)
    if len(np.unique(labels)) < 2:
        return math.nan
    return float(roc_auc_score(labels, scores))


def confusion(labels, scores, threshold: float = THRESHOLD) -> tuple[int, int, int, int]:
    """(TP, FP, TN, FN) for ``score >= threshold`` = lens."""
    labels, scores = _check(labels, scores)
    pred = scores >= threshold
    tp = int(np.sum(pred & (labels == 1)))
    fp = int(np.sum(pred & (labels == 0)))
    tn = int(np.sum(~pred & (labels == 0)))
    fn = int(np.sum(~pred & (labels == 1)))
    return tp, fp, tn, fn


def f1_score(labels, scores, threshold: float = THRESHOLD) -> float:
    tp, fp, _, fn = confusion(labels, scores, threshold)
    denom = 2 * tp + fp + fn
    return 0.0 if denom == 0 else 2 * tp / denom


def accuracy(labels, scores, threshold: float = THRESHOLD) -> float:
    tp, fp, tn, fn = confusion(labels, scores, threshold)
    return (tp + tn) / max(1, tp + fp + tn + fn)


def classification_metrics(labels, scores, *, threshold: float = THRESHOLD) -> dict[str, float]:
    """All lens-finding metrics of one test fold (or of pooled predictions) as a flat dict."""
    labels, scores = _check(labels, scores)
    n_neg = int(np.sum(labels == 0))
    out = {
        "roc_auc": roc_auc(labels, scores),
        "f1": f1_score(labels, scores, threshold),
        "accuracy": accuracy(labels, scores, threshold),
    }
    for name, f in TPR_AT_FPR.items():
        out[name] = tpr_at_fpr(labels, scores, f)
    out.update(n_test=int(labels.size), n_lenses=int(labels.size - n_neg), n_nonlenses=n_neg,
               fpr_resolution=(1.0 / n_neg) if n_neg else math.nan)
    return out


def roc_points(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """(FPR, TPR) arrays of the ROC curve, for plots."""
    from sklearn.metrics import roc_curve

    labels, scores = _check(labels, scores)
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr, tpr


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0 for a single value), NaNs ignored."""
    arr = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return math.nan, math.nan
    return float(arr.mean()), float(arr.std(ddof=1)) if arr.size > 1 else 0.0
