"""Recall in bins, per-group tables and the resolution of the FPR levels."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.evaluate.finding import (finding_metrics, group_table, metric_rows,
                                       needed_negatives, recall_in_bins)
from lensfind.evaluate.metrics import tpr_at_fpr


def test_recall_in_bins_counts_every_lens_once():
    labels = np.array([1, 1, 1, 1, 0, 0, 1])
    scores = np.array([0.9, 0.2, 0.7, 0.6, 0.65, 0.1, 0.8])
    values = np.array([1.0, 2.0, 3.0, 4.0, 9.0, 9.0, np.nan])
    edges, rows = recall_in_bins(values, scores, labels, [0, 2.5, 4])
    assert [r["n"] for r in rows] == [2, 2, 1]           # [0, 2.5), [2.5, 4], no value
    assert rows[0]["recall"] == 0.5 and rows[1]["recall"] == 1.0
    assert rows[1]["recall_tpr0"] == 0.5                 # 0.7 > 0.65 (top non-lens), 0.6 not
    assert np.isnan(rows[2]["lo"]) and rows[2]["mean_p"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="increasing"):
        recall_in_bins(values, scores, labels, [3, 1])


def test_default_bins_are_quintiles_of_the_lenses():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 10, 500)
    labels = np.r_[np.ones(400, int), np.zeros(100, int)]
    _, rows = recall_in_bins(values, rng.uniform(size=500), labels)
    assert [r["n"] for r in rows] == [80] * 5


def test_group_table_and_fpr_resolution():
    rows = group_table(np.array(["ring", "spiral", "ring", ""], dtype=object),
                       np.array([0.9, 0.1, 0.3, 0.2]))
    assert [(r["group"], r["n"], r["above"]) for r in rows] == [
        ("(none)", 1, 0.0), ("ring", 2, 0.5), ("spiral", 1, 0.0)]
    assert needed_negatives(1e-4) == 10000 and needed_negatives(0.0) == 1
    rng = np.random.default_rng(2)
    labels = np.r_[np.ones(50, int), np.zeros(200, int)]
    scores = np.r_[rng.uniform(0.3, 1, 50), rng.uniform(0, 0.7, 200)]
    metrics = finding_metrics(labels, scores)
    assert metrics["tpr_fpr1e-4"] == tpr_at_fpr(labels, scores, 1e-4) == metrics["tpr_fpr0"]
    notes = {r[0]: r[2] for r in metric_rows(metrics)}
    assert notes["TPR at FPR <= 0.01"] == ""
    assert "needs >= 1000 non-lenses" in notes["TPR at FPR <= 0.001"]
