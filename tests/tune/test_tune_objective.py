"""Objectives with ``optuna.trial.FixedTrial``: the closed-form one, and the real Keras one on
tiny simulated sets (the LensFlow CNN from scratch, 1 epoch): lens finding by cross-validation,
regression (MC dropout, full covariance) on the fixed hold-out split."""
from __future__ import annotations

import json
import math

import optuna
import pytest

from lensfind.config import experiment_from_dict
from lensfind.tune.objective import (KerasObjective, SyntheticObjective,
                                     objectives_from_metrics)

FIXED = {"model.pool_dropout": 0.2, "model.dense_dropout": 0.4}


def test_synthetic_objective_goes_through_the_search_space(make_exp):
    exp = make_exp()
    best = SyntheticObjective(exp)(optuna.trial.FixedTrial({"model.pool_dropout": 0.3,
                                                            "model.dense_dropout": 0.3}))
    worse = SyntheticObjective(exp)(optuna.trial.FixedTrial(FIXED))
    assert 0.5 < worse < best <= 0.95
    with pytest.raises(ValueError, match="model.pool_dropout"):  # FixedTrial lacks a param
        SyntheticObjective(exp)(optuna.trial.FixedTrial({"model.dense_dropout": 0.3}))


def test_synthetic_multi_objective_returns_one_value_per_objective(make_exp):
    exp = make_exp("multi", objectives=["val_loss", "auc"])
    values = SyntheticObjective(exp)(optuna.trial.FixedTrial(FIXED))
    assert isinstance(values, list) and len(values) == 2 and values[0] < values[1]


def test_regression_objectives_from_task_metrics():
    from lensfind.evaluate.calibration import EXPECTED_COVERAGE
    metrics = {"nll": -1.5, "coverage_1sigma": 0.6, "coverage_2sigma": 0.9,
               "coverage_3sigma": 0.99, "error68_theta_e": 0.05, "error68_e1": 0.1}
    out = objectives_from_metrics(["nll", "calibration", "error68"], metrics,
                                  scales={"theta_e": 0.25, "e1": 0.2})
    gaps = [abs(c - EXPECTED_COVERAGE[k]) for k, c in zip((1, 2, 3), (0.6, 0.9, 0.99))]
    assert out["nll"] == -1.5
    assert math.isclose(out["calibration"], sum(gaps) / 3)
    assert math.isclose(out["error68"], (0.05 / 0.25 + 0.1 / 0.2) / 2)


def _tiny_exp(task: str, mode: str):
    regress = task == "regress"
    return experiment_from_dict({
        "experiment": {"name": f"tiny-{task}", "seed": 3, "task": task},
        "simulation": {"size": 32, "supersampling": 1, "n_lenses": 32 if regress else 16,
                       "n_nonlenses": 0 if regress else 16},
        "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                  "dense_units": 8, "head": "mvn_full" if regress else "classifier",
                  "targets": ["theta_e", "e1", "e2"]},
        "train": {"folds": 2, "epochs": 1, "batch_size": 8, "patience": 0,
                  "learning_rate": 1e-3, "mc_samples": 3,
                  "augment": {"shear_deg": 0.0}},
        "tune": {"mode": mode, "holdout_fraction": 0.25, "folds": [0],
                 "objectives": ["nll", "calibration", "error68"] if regress else ["auc"]},
    })


def _tiny_set(exp):
    """The experiment's cutouts made by the real simulator (32 x 32 pixels)."""
    from lensfind.data.store import DataSet
    from lensfind.sim.simulate import simulate
    batch = simulate(exp.simulation, seed=exp.seed)
    return DataSet(images=batch.images, labels=batch.labels, params=batch.params,
                   kinds=batch.kinds, system_id=batch.system_id)


@pytest.mark.slow
def test_keras_objective_cross_validates_the_suggested_lens_finder(tmp_path):
    exp = _tiny_exp("classify", "cv")
    trial = optuna.trial.FixedTrial(FIXED)
    auc = KerasObjective(exp, runs_dir=tmp_path, dataset=_tiny_set(exp), progress=False)(trial)
    assert 0.0 <= auc <= 1.0
    run_dir = tmp_path / "tiny-classify" / "tune" / "fixed-trial" / "trials" / "0000"
    assert trial.user_attrs == {"run_dir": str(run_dir), "objectives": {"auc": auc}}
    # the trial's CV run: its snapshot holds the trial's dropout rates; only fold 0 ran
    snapshot = (run_dir / "experiment.toml").read_text()
    assert "pool_dropout = 0.2" in snapshot and "dense_dropout = 0.4" in snapshot
    assert (run_dir / "fold_0" / "DONE").is_file() and not (run_dir / "fold_1").exists()
    saved = json.loads((run_dir / "fold_0" / "metrics.json").read_text())["metrics"]
    assert saved["roc_auc"] == auc


@pytest.mark.slow
def test_keras_objective_scores_a_regression_network_on_the_holdout_split(tmp_path):
    exp = _tiny_exp("regress", "holdout")
    trial = optuna.trial.FixedTrial(FIXED)
    nll, calibration, error68 = KerasObjective(exp, runs_dir=tmp_path, dataset=_tiny_set(exp),
                                               progress=False)(trial)
    assert math.isfinite(nll) and 0.0 <= calibration <= 1.0 and error68 > 0.0
    run_dir = tmp_path / "tiny-regress" / "tune" / "fixed-trial" / "trials" / "0000"
    saved = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    assert saved["nll"] == pytest.approx(nll) and saved["n_val"] == 8 and saved["epochs"] == 1
    assert trial.user_attrs["objectives"] == {"nll": nll, "calibration": calibration,
                                              "error68": error68}
