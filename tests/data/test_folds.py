"""Stratified, groups-aware folds: partition, stratification, groups never straddle, refusals."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.data.folds import (check_stratifiable, load_folds, make_folds, save_folds,
                                 validation_split)
from lensfind.validation import ConfigError


def _data(n_systems=60, seed=0):
    """Systems of 1-3 images each (copies of one system share a label, as in the simulator)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 4, n_systems)
    groups = np.repeat(np.arange(n_systems) * 7 + 3, sizes)
    sys_labels = (rng.random(n_systems) < 0.4).astype(int)
    labels = np.repeat(sys_labels, sizes)
    return labels, groups


def test_folds_partition_and_stratify():
    labels, groups = _data()
    folds = make_folds(labels, groups, 5, seed=11)
    assert len(folds) == 5
    tests = np.concatenate([f.test for f in folds])
    assert np.array_equal(np.sort(tests), np.arange(len(labels)))
    for f in folds:
        assert np.intersect1d(f.train, f.test).size == 0
        assert np.array_equal(np.sort(np.concatenate([f.train, f.test])), np.arange(len(labels)))
        frac = labels[f.test].mean()
        assert abs(frac - labels.mean()) < 0.2
        assert set(labels[f.test]) == {0, 1}


def test_groups_never_straddle_folds():
    labels, groups = _data(80, seed=3)
    folds = make_folds(labels, groups, 7, seed=5)
    owner = {}
    for f in folds:
        for g in np.unique(groups[f.test]):
            assert g not in owner, f"group {g} in folds {owner.get(g)} and {f.index}"
            owner[g] = f.index
        assert np.intersect1d(groups[f.train], groups[f.test]).size == 0


def test_folds_are_reproducible_and_seed_dependent(tmp_path):
    labels, groups = _data()
    a = make_folds(labels, groups, 4, seed=1)
    b = make_folds(labels, groups, 4, seed=1)
    c = make_folds(labels, groups, 4, seed=2)
    assert all(np.array_equal(x.test, y.test) for x, y in zip(a, b))
    assert not all(np.array_equal(x.test, y.test) for x, y in zip(a, c))
    save_folds(tmp_path / "folds.json", a, meta={"seed": 1})
    back = load_folds(tmp_path / "folds.json")
    assert all(np.array_equal(x.train, y.train) and np.array_equal(x.test, y.test)
               for x, y in zip(a, back))


def test_validation_split_is_inside_training_and_groups_aware():
    labels, groups = _data(100, seed=8)
    fold = make_folds(labels, groups, 4, seed=0)[0]
    fit, val = validation_split(labels, groups, fold.train, fraction=0.1, seed=4)
    assert np.array_equal(np.sort(np.concatenate([fit, val])), fold.train)
    assert np.intersect1d(groups[fit], groups[val]).size == 0
    assert set(labels[val]) == {0, 1}
    assert 0.03 < len(val) / len(fold.train) < 0.25


@pytest.mark.parametrize("labels, groups, k, words", [
    (None, None, 3, ["no labels"]),
    (np.ones(10, int), None, 3, ["one class", "label 1", "10 images"]),
    (np.array([0] * 10 + [1] * 2), None, 3, ["train.folds = 3", "smallest class", "2 systems"]),
    (np.array([0, 1] * 5), np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4]), 6,
     ["train.folds = 6", "5 distinct systems", "folds <= 5"]),
    (np.array([0, 1] * 5), None, 1, ["train.folds = 1", ">= 2"]),
])
def test_refusals_say_what_was_received(labels, groups, k, words):
    with pytest.raises(ConfigError) as err:
        check_stratifiable(labels, groups, k)
    for w in words:
        assert w in str(err.value)


def test_groups_count_per_class():
    # 6 lens images but from only 2 systems: 3 folds cannot all get a lens system
    labels = np.array([1] * 6 + [0] * 6)
    groups = np.array([0, 0, 0, 1, 1, 1, 2, 3, 4, 5, 6, 7])
    with pytest.raises(ConfigError, match="only 2 systems"):
        make_folds(labels, groups, 3)
    assert len(make_folds(labels, groups, 2)) == 2
