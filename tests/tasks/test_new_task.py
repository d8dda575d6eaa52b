"""A task that exists only in this file runs through cross-validation, summaries, tuning defaults
and scoring -- nothing outside ``lensfind/tasks`` knows its name.

``large_ring``: among the lenses, is the Einstein radius above 1.0 arcsec? A 2-way softmax head,
folds stratified on that label, accuracy and ROC AUC per fold, ``p_large_<member>`` per candidate.
"""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.data.store import DataSet
from lensfind.evaluate.metrics import roc_auc
from lensfind.score.committee import Committee, load_member
from lensfind.sim.simulate import simulate
from lensfind.tasks import TASKS, Task
from lensfind.train.cv import run_cv
from lensfind.validation import ConfigError

THRESHOLD = 1.0  # arcsec


class LargeRingTask(Task):
    name = "large_ring"
    heads = ("classifier",)
    metrics = ("accuracy", "roc_auc")
    headers = {"accuracy": "Accuracy", "roc_auc": "ROC AUC"}
    headline = "roc_auc"
    summary_note = "Einstein radius above 1 arcsec: mean ± std over the test folds."
    tune_objectives = ("val_loss",)
    tune_monitor = "val_loss"

    def _labels(self, dataset) -> np.ndarray:
        return (np.asarray(dataset.params["theta_e"]) > THRESHOLD).astype(np.int32)

    def select(self, exp, dataset):
        lenses = np.flatnonzero(np.asarray(dataset.labels) == 1)
        if lenses.size == 0:
            raise ConfigError("large_ring needs lenses (label 1)")
        return lenses, self._labels(dataset).astype(np.int64), np.asarray(dataset.system_id)

    def train_targets(self, ctx):
        return self._labels(ctx.dataset), None

    def validation_targets(self, ctx):
        return self._labels(ctx.dataset)[ctx.val]

    def predict(self, ctx, model):
        x = np.asarray(ctx.dataset.images[ctx.test], np.float32)[..., None]
        return {"p_large": np.asarray(model.predict(x, verbose=0), np.float64)[:, 1]}

    def fold_metrics(self, ctx, columns):
        truth = self._labels(ctx.dataset)[ctx.test]
        p = columns["p_large"]
        return {"accuracy": float(np.mean((p > 0.5) == truth)), "roc_auc": roc_auc(truth, p)}

    def score_columns(self, label, targets):
        return [f"p_large_{label}"]

    def score_values(self, label, targets, head, samples):
        return {f"p_large_{label}": samples[..., 1].mean(axis=0)}


@pytest.fixture()
def large_ring(monkeypatch):
    task = LargeRingTask()
    monkeypatch.setitem(TASKS, task.name, task)
    return task


def _experiment():
    return experiment_from_dict({
        "experiment": {"name": "large-ring", "task": "large_ring", "seed": 3},
        "simulation": {"size": 40, "pixel_scale": 0.1, "supersampling": 1, "n_lenses": 60,
                       "n_nonlenses": 4, "field_galaxies": 0.0, "lens": {"theta_e": [0.6, 1.4]},
                       "source": {"magnitude": [20.0, 21.0]}},
        "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                  "input_size": 40, "dense_units": 0, "pool_dropout": 0.1},
        "train": {"folds": 2, "epochs": 1, "batch_size": 16, "patience": 0}})


def test_an_unregistered_task_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match=r"experiment.task = 'large_ring' is invalid: "
                                          r"expected one of .*classify.*regress"):
        _experiment()


@pytest.mark.slow
def test_a_task_added_in_one_place_runs_end_to_end(large_ring, tmp_path):
    exp = _experiment()
    assert exp.tune.objective_names(large_ring) == ("val_loss",)
    sim = simulate(exp.simulation, seed=exp.seed)
    dataset = DataSet.from_batches(sim, config=exp.simulation, seed=exp.seed)
    result = run_cv(exp, runs_root=tmp_path, dataset=dataset, progress=False)
    assert result.complete and set(result.folds[0].metrics) == {"accuracy", "roc_auc"}
    table = (result.run_dir / "summary.md").read_text()
    assert "| Accuracy | ROC AUC |" in table and large_ring.summary_note in table
    header = (result.run_dir / "fold_0" / "oof.csv").read_text().splitlines()[0]
    assert header == "index,system_id,label,kind,p_large"

    member = load_member(result.run_dir)
    assert member.task is large_ring
    committee = Committee([member], mc_samples=2, batch_size=8)
    assert committee.columns() == ["p_large_large-ring"]
    scores = committee.predict(np.asarray(dataset.images[:5], np.float32))
    assert set(scores) == {"p_large_large-ring"} and scores["p_large_large-ring"].shape == (5,)
