"""Lens finding on a labelled set: the CV's metrics, recall in bins, and scores per group.

The headline numbers are :func:`lensfind.evaluate.metrics.classification_metrics` (ROC AUC, F1
and accuracy at ``p >= 0.5``, TPR0 and TPR at FPR <= 1e-2 / 1e-3 / 1e-4 with the Bologna lens
finding challenge rule) -- the same code as the cross-validation folds. A level ``f`` is
*resolved* only with at least ``1/f`` non-lenses; below that its TPR equals TPR0 and the tables
say "unresolved (needs N non-lenses)".

Recall in bins (:func:`recall_in_bins`): the lenses are split by a truth column (``snr``,
``theta_e``, ``source_mag``, ...) into bins given as edges or, by default, at its quintiles;
per bin the number of lenses, the mean ``p_lens``, the recall at ``p >= 0.5`` and the recall at
the TPR0 threshold (the highest non-lens score).

Groups (:func:`group_table`): any text column (non-lens ``kind``, lens ``morphology``,
``grade``) -> per value the count, mean and standard deviation of ``p_lens`` and the fraction at
``p >= 0.5`` (the false-positive rate of a non-lens kind, the recall of a lens morphology).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from lensfind.evaluate.metrics import THRESHOLD, TPR_AT_FPR, classification_metrics, tpr_at_fpr
from lensfind.files import fmt

#: FPR levels of ``lensfind evaluate``: the CV's and the challenge's 1e-4
FPR_LEVELS: dict[str, float] = {**TPR_AT_FPR, "tpr_fpr1e-4": 1e-4}
#: quantiles of the default recall bins
DEFAULT_QUANTILES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def finding_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """:func:`classification_metrics` plus ``tpr_fpr1e-4``; needs lenses and non-lenses."""
    out = classification_metrics(labels, scores)
    for name, level in FPR_LEVELS.items():
        out.setdefault(name, tpr_at_fpr(labels, scores, level))
    return out


def needed_negatives(level: float) -> int:
    """Non-lenses needed to resolve FPR ``level`` (``ceil(1/level)``; 1 for TPR0)."""
    return 1 if level == 0 else int(math.ceil(1.0 / level - 1e-9))


def metric_rows(metrics: dict[str, float]) -> list[list[str]]:
    """``[[metric, value, note]]`` for the headline table."""
    rows = [["ROC AUC", fmt(metrics["roc_auc"]), ""],
            [f"F1 (p >= {THRESHOLD:g})", fmt(metrics["f1"]), ""],
            [f"accuracy (p >= {THRESHOLD:g})", fmt(metrics["accuracy"]), ""]]
    n_neg = metrics["n_nonlenses"]
    for name, level in FPR_LEVELS.items():
        label = "TPR0 (above every non-lens)" if level == 0 else f"TPR at FPR <= {level:g}"
        need = needed_negatives(level)
        note = "" if n_neg >= need else f"unresolved: needs >= {need} non-lenses (equals TPR0)"
        rows.append([label, fmt(metrics[name]), note])
    rows += [["lenses", str(metrics["n_lenses"]), ""],
             ["non-lenses", str(n_neg), ""]]
    return rows


def bin_edges(values: np.ndarray, edges: Sequence[float] | None = None) -> np.ndarray:
    """``edges`` as an array, or the :data:`DEFAULT_QUANTILES` of the finite ``values``
    (repeated edges merged)."""
    if edges is not None:
        out = np.asarray(edges, np.float64)
        if out.ndim != 1 or out.size < 2 or np.any(np.diff(out) <= 0):
            raise ValueError(f"bin edges {list(edges)} are invalid: expected two or more "
                             "increasing numbers")
        return out
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.array([])
    return np.unique(np.quantile(finite, DEFAULT_QUANTILES))


def recall_in_bins(values: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                   edges: Sequence[float] | None = None) -> tuple[np.ndarray, list[dict]]:
    """Recall of the lenses per bin of ``values`` (see the module docstring).

    Returns ``(edges, rows)``; a row has ``lo, hi, n, mean_p, recall, recall_tpr0``. The last
    bin includes its upper edge; lenses with a NaN value or outside the edges are counted in a
    row with ``lo = hi = NaN``.
    """
    values, scores, labels = (np.asarray(a) for a in (values, scores, labels))
    lens = labels == 1
    edges = bin_edges(values[lens], edges)
    top_negative = np.max(scores[labels == 0]) if np.any(labels == 0) else -np.inf
    rows = []
    placed = np.zeros(values.shape, bool)
    for j in range(max(edges.size - 1, 0)):
        lo, hi = edges[j], edges[j + 1]
        last = j == edges.size - 2
        inside = lens & (values >= lo) & ((values <= hi) if last else (values < hi))
        placed |= inside
        rows.append(_bin_row(lo, hi, scores[inside], top_negative))
    rest = lens & ~placed
    if rest.any():
        rows.append(_bin_row(math.nan, math.nan, scores[rest], top_negative))
    return edges, rows


def _bin_row(lo: float, hi: float, scores: np.ndarray, top_negative: float) -> dict:
    n = int(scores.size)
    return {"lo": lo, "hi": hi, "n": n,
            "mean_p": float(np.mean(scores)) if n else math.nan,
            "recall": float(np.mean(scores >= THRESHOLD)) if n else math.nan,
            "recall_tpr0": float(np.mean(scores > top_negative)) if n else math.nan}


def group_table(groups: np.ndarray, scores: np.ndarray) -> list[dict]:
    """Per group value (sorted): ``group, n, mean_p, std_p, above`` (fraction with
    ``p >= 0.5``); empty cells are the group ``(none)``."""
    groups = np.array([g if g else "(none)" for g in groups], dtype=object)
    rows = []
    for g in sorted(set(groups.tolist())):
        s = scores[groups == g]
        rows.append({"group": g, "n": int(s.size), "mean_p": float(np.mean(s)),
                     "std_p": float(np.std(s, ddof=1)) if s.size > 1 else 0.0,
                     "above": float(np.mean(s >= THRESHOLD))})
    return rows
