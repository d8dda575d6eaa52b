"""K-class metrics: accuracy, one-vs-rest AUCs, F1, the confusion matrix, and bad input."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, log_loss, roc_auc_score

from lensfind.evaluate.multiclass import (confusion_markdown, confusion_matrix,
                                          multiclass_metrics, plot_multiclass)

NAMES = ("no_sub", "cdm", "axion")


def _example(n=300, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    logits = rng.normal(size=(n, 3)) + 1.5 * np.eye(3)[labels]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return labels, probs


def test_metrics_agree_with_scikit_learn():
    labels, probs = _example()
    m = multiclass_metrics(labels, probs, NAMES)
    assert m["macro_auc"] == pytest.approx(roc_auc_score(labels, probs, multi_class="ovr"))
    assert m["macro_f1"] == pytest.approx(f1_score(labels, probs.argmax(1), average="macro"))
    per_class = f1_score(labels, probs.argmax(1), average=None)
    assert [m[f"f1_{n}"] for n in NAMES] == pytest.approx(per_class)
    assert m["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    assert m["log_loss"] == pytest.approx(log_loss(labels, probs))
    assert 0.6 < m["macro_auc"] < 1.0


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    labels = np.array([0, 0, 1, 2, 2, 2])
    probs = np.eye(3)[[0, 1, 1, 2, 0, 2]]
    assert confusion_matrix(labels, probs, NAMES).tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    text = confusion_markdown(confusion_matrix(labels, probs, NAMES), NAMES)
    assert "| **axion** | 1 | 0 | 2 | 0.667 |" in text


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match=r"class indices must be in 0..2 .*received \[0, 3\]"):
        multiclass_metrics([0, 3], np.full((2, 3), 1 / 3), NAMES)
    with pytest.raises(ValueError, match=r"shape \(2, 2\) do not fit 2 labels and the 3 classes"):
        multiclass_metrics([0, 1], np.full((2, 2), 0.5), NAMES)


def test_plot_writes_a_png(tmp_path):
    labels, probs = _example()
    path = plot_multiclass(labels, probs, NAMES, tmp_path / "m.png", title="test")
    assert path.stat().st_size > 20_000
