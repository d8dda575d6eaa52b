"""Lens-finding metrics against hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lensfind.evaluate.metrics import (accuracy, classification_metrics, confusion, f1_score,
                                       mean_std, roc_auc, tpr_at_fpr)

# 4 lenses, 6 non-lenses; sorted by score: L .95, N .9, L .8, L .7, N .6, N .4, L .3, N .2, N .1,
# N .05
LABELS = np.array([1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
SCORES = np.array([.95, .9, .8, .7, .6, .4, .3, .2, .1, .05])


def test_auc_by_counting_pairs():
    # pairs (lens above non-lens): .95 beats 6, .8 beats 5, .7 beats 5, .3 beats 3 -> 19 of 24
    assert roc_auc(LABELS, SCORES) == pytest.approx(19 / 24)


def test_confusion_f1_accuracy_at_half():
    # predicted lens: .95 .9 .8 .7 .6 -> TP 3, FP 2; TN 4, FN 1
    assert confusion(LABELS, SCORES) == (3, 2, 4, 1)
    assert f1_score(LABELS, SCORES) == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert accuracy(LABELS, SCORES) == pytest.approx(7 / 10)
    assert confusion([1, 0], [0.5, 0.49]) == (1, 0, 1, 0)  # threshold is inclusive


def test_tpr_at_fpr_zero_is_lenses_above_every_nonlens():
    assert tpr_at_fpr(LABELS, SCORES, 0.0) == pytest.approx(1 / 4)   # only .95 > .9


def test_tpr_at_fpr_allows_floor_f_nneg_false_positives():
    # 6 non-lenses: FPR <= 1/6 allows 1 FP -> threshold .6: lenses .95 .8 .7 -> 3/4
    assert tpr_at_fpr(LABELS, SCORES, 1 / 6) == pytest.approx(3 / 4)
    assert tpr_at_fpr(LABELS, SCORES, 0.2) == pytest.approx(3 / 4)
    # 2 FP allowed -> threshold .4: same lenses
    assert tpr_at_fpr(LABELS, SCORES, 2 / 6) == pytest.approx(3 / 4)
    # 3 FP -> threshold .2: all 4
    assert tpr_at_fpr(LABELS, SCORES, 0.5) == pytest.approx(1.0)
    # a target below the resolution 1/N_neg is the same as FPR = 0
    assert tpr_at_fpr(LABELS, SCORES, 1e-3) == tpr_at_fpr(LABELS, SCORES, 0.0)


def test_ties_with_nonlenses_do_not_count():
    assert tpr_at_fpr([1, 0, 1], [0.7, 0.7, 0.9], 0.0) == pytest.approx(0.5)
    # 1000 non-lenses at FPR 1e-3 allow one false positive: threshold = 2nd-highest non-lens
    neg = np.linspace(0, 1, 1000)             # highest 1.0, then 0.998999, 0.997998, ...
    labels = np.r_[np.zeros(1000), np.ones(4)]
    scores = np.r_[neg, [2.0, 1.0, 0.9995, 0.5]]
    assert tpr_at_fpr(labels, scores, 0.0) == pytest.approx(1 / 4)      # only 2.0 > 1.0
    assert tpr_at_fpr(labels, scores, 1e-3 - 1e-6) == pytest.approx(1 / 4)
    assert tpr_at_fpr(labels, scores, 1e-3) == pytest.approx(3 / 4)     # 2.0, 1.0, 0.9995
    assert tpr_at_fpr(labels, scores, 0.5) == pytest.approx(1.0)        # 0.5 > 0.4995


def test_classification_metrics_bundle():
    m = classification_metrics(LABELS, SCORES)
    assert m["roc_auc"] == pytest.approx(19 / 24)
    assert m["tpr_fpr0"] == pytest.approx(0.25)
    assert m["tpr_fpr1e-2"] == pytest.approx(0.25)
    assert m["n_lenses"] == 4 and m["n_nonlenses"] == 6
    assert m["fpr_resolution"] == pytest.approx(1 / 6)
    perfect = classification_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert perfect["roc_auc"] == 1 and perfect["f1"] == 1 and perfect["tpr_fpr0"] == 1


def test_bad_inputs():
    with pytest.raises(ValueError, match="differ in length"):
        roc_auc([0, 1], [0.5])
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, np.nan])
    assert math.isnan(roc_auc([1, 1], [0.1, 0.2]))


def test_mean_std():
    assert mean_std([1.0, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_std([0.5]) == (0.5, 0.0)
    assert all(math.isnan(v) for v in mean_std([]))
