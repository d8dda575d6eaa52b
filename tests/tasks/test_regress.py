"""The "regress" task: bad input, label-aware targets, sweeps, and a tiny run that learns."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from lensfind.config import experiment_from_dict, load_experiment
from lensfind.data.store import DataSet
from lensfind.validation import ConfigError

TINY = {
    "experiment": {"name": "regress-tiny", "task": "regress", "seed": 7},
    "simulation": {"size": 48, "pixel_scale": 0.08, "supersampling": 1, "n_lenses": 1000,
                   "n_nonlenses": 40, "field_galaxies": 0.0,
                   "source": {"magnitude": [20.0, 22.0]},
                   "lens_light": {"magnitude": [23.0, 25.0]},
                   "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0},
                   "negatives": {"lens_galaxy": 1.0, "neighbour": 0.0, "star": 0.0, "ring": 0.0,
                                 "spiral": 0.0, "real_hst": 0.0}},
    "model": {"backbone": "lensflow", "regime": "random", "weights": "none", "input_size": 48,
              "dense_units": 0, "pool_dropout": 0.05, "head": "mvn_full"},
    "train": {"folds": 5, "epochs": 15, "batch_size": 64, "learning_rate": 1e-3, "patience": 0,
              "mc_samples": 10,
              "augment": {"rotation_deg": 180.0, "zoom": [1.0, 1.0], "shear_deg": 0.0}},
}


def _exp(**sections):
    data = json.loads(json.dumps(TINY))
    for key, value in sections.items():
        data[key].update(value)
    return experiment_from_dict(data)


def _dataset(exp, n_lenses=None, n_nonlenses=None):
    from lensfind.sim.simulate import simulate
    batch = simulate(exp.simulation, seed=exp.seed, n_lenses=n_lenses, n_nonlenses=n_nonlenses)
    return DataSet.from_batches(batch, config=exp.simulation, seed=exp.seed)


@pytest.fixture(scope="module")
def small_set():
    return _dataset(_exp(), n_lenses=30, n_nonlenses=10)


# ------------------------------------------------------------------------------- bad input

def test_unknown_target_is_refused(small_set):
    from lensfind.tasks.regress import select
    with pytest.raises(ConfigError, match=r"model.targets = \['theta_e', 'radius'\] is invalid: "
                                          r"expected names from theta_e, e1.*unknown: 'radius'"):
        select(small_set, ["theta_e", "radius"])


def test_target_missing_from_the_data_set_is_refused(small_set):
    from lensfind.tasks.regress import select
    sub = small_set.subset(np.arange(len(small_set)))
    del sub.params["g2"]
    with pytest.raises(ConfigError, match=r"it has no 'g2' \(it has .*theta_e"):
        select(sub, ["theta_e", "g1", "g2"])


def test_nan_targets_are_refused(small_set):
    from lensfind.tasks.regress import select
    sub = small_set.subset(np.arange(len(small_set)))
    lens = np.flatnonzero(sub.labels == 1)[:3]
    sub.params["e1"] = sub.params["e1"].copy()
    sub.params["e1"][lens] = np.nan
    with pytest.raises(ConfigError, match=r"NaN or infinite values among the 30 lenses: e1 "
                                          r"\(3 values\)"):
        select(sub, ["theta_e", "e1"])


def test_selection_keeps_lenses_only(small_set):
    from lensfind.tasks.regress import select
    idx, y = select(small_set, ["theta_e", "magnification"])
    assert idx.size == 30 and np.all(small_set.labels[idx] == 1) and np.isfinite(y).all()


def test_a_classifier_head_or_bad_targets_do_not_run_a_regression():
    from lensfind.train.fit import check_experiment
    with pytest.raises(ConfigError, match=r"model.head = 'classifier' is invalid: expected one "
                                          r"of 'mvn_full', 'mvn_diag', 'mse'"):
        check_experiment(_exp(model={"head": "classifier"}))
    with pytest.raises(ConfigError, match=r"unknown: 'snr'"):
        check_experiment(_exp(model={"targets": ["theta_e", "snr"]}))


def test_whitening_statistics():
    from lensfind.tasks.regress import whitening
    y = np.array([[1.0, 5.0], [3.0, 5.0]])
    mean, std = whitening(y)
    np.testing.assert_allclose(mean, [2.0, 5.0])
    np.testing.assert_allclose(std, [1.0, 1.0])  # a constant target gets std 1, not 0
    with pytest.raises(ValueError, match="finite"):
        whitening(np.array([[np.nan, 1.0]]))


# --------------------------------------------------------------------------- augmentation

def test_targets_follow_rotations_and_flips(small_set):
    """The task's label function: centre rotates as a vector, ellipticity and shear as spin-2."""
    from lensfind.data.augment import Transform
    from lensfind.tasks.regress import label_fn
    names = ("theta_e", "e1", "e2", "center_x", "center_y", "magnification", "g1", "g2")
    fn = label_fn(small_set.params, names)
    idx = np.flatnonzero(small_set.labels == 1)[:4]
    p = {n: small_set.params[n][idx].astype(float) for n in names}
    rot = fn(idx, Transform.make(4, angle_deg=90.0))
    np.testing.assert_allclose(rot[:, 3], -p["center_y"], atol=1e-6)
    np.testing.assert_allclose(rot[:, 4], p["center_x"], atol=1e-6)
    for j, k in ((1, "e1"), (2, "e2"), (6, "g1"), (7, "g2")):
        np.testing.assert_allclose(rot[:, j], -p[k], atol=1e-6)  # spin 2: 90 deg flips the sign
    np.testing.assert_allclose(rot[:, [0, 5]], np.stack([p["theta_e"], p["magnification"]], 1),
                               rtol=1e-6)
    flip = fn(idx, Transform.make(4, flip_x=True))
    np.testing.assert_allclose(flip[:, 3], -p["center_x"], atol=1e-6)
    np.testing.assert_allclose(flip[:, 1:3], np.stack([p["e1"], -p["e2"]], 1), atol=1e-6)


# ---------------------------------------------------------------------------------- sweep

def test_dropout_sweep_file_makes_one_experiment_per_rate():
    from pathlib import Path

    from lensfind.train.sweep import sweep_experiments
    path = Path(__file__).parents[2] / "experiments" / "regress-dropout-sweep.toml"
    for small in (False, True):
        exp = load_experiment(path, small=small)
        runs = sweep_experiments(exp)
        assert [v for v, _ in runs] == [0.02, 0.03, 0.1]
        for value, one in runs:
            assert one.model.conv_dropout == one.model.pool_dropout == value
            assert one.name == f"{exp.name}-dropout{value}" and not one.sweep.enabled
            assert one.experiment.task == "regress"


def test_bad_sweep_tables_are_refused():
    with pytest.raises(ConfigError, match=r"sweep.keys = \['dropout'\] is invalid"):
        experiment_from_dict({"sweep": {"keys": ["dropout"], "values": [0.1]}})
    with pytest.raises(ConfigError, match=r"sweep.values = \[\] is invalid: expected both"):
        experiment_from_dict({"sweep": {"keys": ["model.dense_dropout"], "values": []}})
    with pytest.raises(ConfigError, match=r"model.dense_dropout = 2.0 is invalid"):
        from lensfind.train.sweep import sweep_experiments
        sweep_experiments(experiment_from_dict(
            {"sweep": {"keys": ["model.dense_dropout"], "values": [0.1, 2.0]}}))


# ------------------------------------------------------------------------------ tiny run

@pytest.mark.slow
def test_tiny_regression_run_learns_and_reports_coverage(tmp_path, capsys):
    """One fold of a 5-fold run: ~720 training lenses, 15 epochs, MC dropout with 10 passes."""
    from lensfind.train.cv import run_cv
    from lensfind.tasks.regress import summarize

    exp = _exp()
    dataset = _dataset(exp)
    result = run_cv(exp, dataset=dataset, runs_root=tmp_path, folds=[0], progress=False)
    metrics = result.folds[0].metrics
    fold = result.run_dir / "fold_0"
    detail = json.loads((fold / "calibration.json").read_text())
    prior = detail["before"]["theta_e"]["prior_std"]
    assert metrics["error68_theta_e"] < 0.5 * prior
    for k in (1, 2, 3):
        assert 0.0 < metrics[f"coverage_{k}sigma"] <= 1.0
        assert 0.0 < metrics[f"coverage_{k}sigma_recalibrated"] <= 1.0
    assert math.isfinite(metrics["recalibration_scale"]) and metrics["recalibration_scale"] > 0
    paths = summarize(result.run_dir)
    for name in ("table1.md", "coverage.md", "pred_vs_true", "chi2", "calibration",
                 "det_extremes"):
        assert paths[name].is_file() and paths[name].stat().st_size > 0
    table = paths["table1.md"].read_text()
    assert "Sorscher & Wagner-Carena (paper)" in table and "this run (as predicted)" in table
    with capsys.disabled():
        print("\n" + table + paths["coverage.md"].read_text())
    # the fold's model predicts in target units from its stored whitening
    from lensfind.train.rundir import RunDir
    from lensfind.zoo.regression_heads import target_scaling
    (model,) = RunDir(result.run_dir).load_models()
    names, mean, std = target_scaling(model)
    assert names == exp.model.targets and np.all(std > 0)


