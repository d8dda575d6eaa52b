"""Bad settings and unusable data are refused at once (before a run directory is made or a
network is built), with messages that say what was received and what is allowed."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.data.store import DataSet
from lensfind.train.cv import run_cv
from lensfind.train.rundir import RunError
from lensfind.validation import ConfigError

BASE = {"experiment": {"name": "refuse"},
        "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                  "input_size": 40},
        "train": {"folds": 3, "epochs": 1, "batch_size": 8}}


def _exp(**sections):
    data = {k: dict(v) for k, v in BASE.items()}
    for key, value in sections.items():
        data.setdefault(key, {}).update(value)
    return experiment_from_dict(data, source="test")


def _set(labels, groups=None):
    labels = np.asarray(labels, dtype=np.int8)
    n = len(labels)
    return DataSet(images=np.zeros((n, 40, 40), np.float32), labels=labels, params={},
                   kinds=np.where(labels == 1, "lens", "star"),
                   system_id=np.arange(n) if groups is None else np.asarray(groups))


def _refused(tmp_path, exp, dataset, error, *words, **kw):
    with pytest.raises(error) as err:
        run_cv(exp, dataset=dataset, runs_root=tmp_path / "runs", progress=False, **kw)
    for w in words:
        assert w in str(err.value), str(err.value)
    assert not (tmp_path / "runs").exists() or kw.get("run_dir")   # nothing was started


@pytest.mark.parametrize("section, words", [
    ({"model": {"backbone": "alexnet"}}, ["model.backbone = 'alexnet' is invalid",
                                          "'xception'"]),
    ({"model": {"regime": "partly"}}, ["model.regime = 'partly' is invalid", "'frozen'"]),
    ({"train": {"folds": 1}}, ["train.folds = 1 is invalid"]),
])
def test_unknown_backbone_regime_or_bad_folds_fail_when_read(section, words):
    with pytest.raises(ConfigError) as err:
        _exp(**section)
    for w in words:
        assert w in str(err.value)


def test_one_class_only(tmp_path):
    _refused(tmp_path, _exp(), _set([0] * 12), ConfigError, "one class only", "label 0",
             "12 images")


def test_unlabelled_images(tmp_path):
    _refused(tmp_path, _exp(), _set([0, 1, -1] * 4), ConfigError, "labels [-1]",
             "expected only 1 (lens) and 0 (non-lens)")


def test_more_folds_than_the_smallest_class(tmp_path):
    _refused(tmp_path, _exp(), _set([0] * 10 + [1] * 2), ConfigError, "train.folds = 3",
             "smallest class has only 2 systems", "folds <= 2")


def test_more_folds_than_groups(tmp_path):
    groups = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    _refused(tmp_path, _exp(train={"folds": 5}), _set([0, 1, 0, 1, 0, 1] * 2, groups),
             ConfigError, "train.folds = 5", "4 distinct systems")


def test_head_that_does_not_fit_the_task(tmp_path):
    _refused(tmp_path, _exp(model={"head": "mse"}), _set([0, 1] * 6), ConfigError,
             "model.head = 'mse' is invalid", "'classifier'", "experiment.task = 'classify'")


def test_imagenet_weights_for_a_baseline(tmp_path):
    _refused(tmp_path, _exp(model={"weights": "imagenet", "regime": "frozen"}), _set([0, 1] * 6),
             ConfigError, "model.weights = 'imagenet' is invalid")


def test_input_size_below_backbone_minimum(tmp_path):
    _refused(tmp_path, _exp(model={"backbone": "xception", "input_size": 64,
                                   "weights": "none"}), _set([0, 1] * 6),
             ConfigError, "model.input_size = 64 is invalid", "at least 71")


def test_fold_index_out_of_range(tmp_path):
    _refused(tmp_path, _exp(), _set([0, 1] * 6), ConfigError, "--fold 3 is invalid",
             "0..2", folds=[3])


def test_run_dir_that_is_not_a_run(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("x")
    _refused(tmp_path, _exp(), _set([0, 1] * 6), RunError, "not a lensfind run directory",
             run_dir=other)


def test_run_dir_with_other_settings(tmp_path):
    from lensfind.train.rundir import RunDir
    RunDir.create(tmp_path / "run", _exp(train={"epochs": 5}))
    _refused(tmp_path, _exp(), _set([0, 1] * 6), RunError, "other settings",
             run_dir=tmp_path / "run")
