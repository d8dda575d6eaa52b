"""The "substructure" task: refusals, its columns, and a tiny run that learns above chance."""
from __future__ import annotations

import re

import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.data.store import DataSet
from lensfind.sim.simulate import simulate
from lensfind.tasks import TASKS
from lensfind.train.cv import run_cv
from lensfind.train.fit import check_experiment
from lensfind.validation import ConfigError

TASK = TASKS["substructure"]
CLASSES = ["no_sub", "cdm", "axion"]


def _exp(**sections):
    data = {"experiment": {"name": "sub-tiny", "task": "substructure", "seed": 11},
            "simulation": {"size": 48, "pixel_scale": 0.1, "supersampling": 1, "n_lenses": 600,
                           "n_nonlenses": 30, "field_galaxies": 0.0,
                           "lens": {"theta_e": [0.9, 1.5]},
                           "source": {"kind": "sersic", "magnitude": [20.0, 21.0]},
                           "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0,
                                         "mask_probability": 0.0},
                           "substructure": {"classes": CLASSES}},
            "model": {"backbone": "lensflow", "regime": "random", "weights": "none",
                      "input_size": 48, "dense_units": 0, "pool_dropout": 0.1,
                      "head": "softmax"},
            "train": {"folds": 3, "epochs": 8, "batch_size": 32, "learning_rate": 1e-3,
                      "patience": 0,
                      "augment": {"rotation_deg": 180.0, "zoom": [1.0, 1.0], "shear_deg": 0.0}}}
    for key, value in sections.items():
        data[key].update(value)
    return experiment_from_dict(data)


def test_settings_that_cannot_work_are_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"model.head = 'classifier' is invalid: expected one "
                                          r"of 'softmax' for experiment.task = 'substructure'"):
        check_experiment(_exp(model={"head": "classifier"}))
    with pytest.raises(ConfigError, match=r"simulation.substructure.classes = \['cdm'\] is "
                                          r"invalid: expected at least two class names"):
        check_experiment(_exp(simulation={"substructure": {"classes": ["cdm"]}}))


def test_a_set_without_classes_is_refused_naming_the_parameter():
    exp = _exp()
    plain = DataSet.from_batches(simulate(exp.simulation.replace(substructure={"classes": ()}),
                                          seed=1, n_lenses=6, n_nonlenses=2))
    with pytest.raises(ConfigError, match=r"has no parameter 'substructure': simulate it with "
                                          r"\[simulation.substructure\] classes"):
        TASK.select(exp, plain)


def test_selection_keeps_lenses_and_stratifies_on_the_class():
    exp = _exp()
    data = DataSet.from_batches(simulate(exp.simulation, seed=2, n_lenses=60, n_nonlenses=10))
    indices, strata, groups = TASK.select(exp, data)
    assert np.all(np.asarray(data.labels)[indices] == 1) and indices.size == 60
    assert set(strata[indices].tolist()) == {0, 1, 2} and np.all(strata[data.labels == 0] == -1)
    assert TASK.score_columns("m", tuple(CLASSES)) == ["p_no_sub_m", "p_cdm_m", "p_axion_m"]
    values = TASK.score_values("m", tuple(CLASSES), "softmax", np.full((2, 3, 3), 1 / 3))
    assert set(values) == {"p_no_sub_m", "p_cdm_m", "p_axion_m"}


@pytest.mark.slow
def test_tiny_run_writes_per_class_tables_and_plots(tmp_path):
    """The pipeline end to end. It does not learn at this size (the README's substructure
    section has a run that does): only the files and the metrics' ranges are checked."""
    exp = _exp(simulation={"n_lenses": 150}, train={"epochs": 1})
    data = DataSet.from_batches(simulate(exp.simulation, seed=exp.seed),
                                config=exp.simulation, seed=exp.seed)
    result = run_cv(exp, runs_root=tmp_path, dataset=data, progress=False)
    metrics = result.summary["metrics"]
    assert set(metrics) == {"accuracy", "macro_auc", "macro_f1", "log_loss"}
    assert all(0.0 <= metrics[k]["mean"] <= 1.0 for k in ("accuracy", "macro_auc", "macro_f1"))
    assert metrics["log_loss"]["mean"] > 0.0
    text = (result.run_dir / "substructure.md").read_text()
    for name in CLASSES:
        assert re.search(rf"\| {name} \| \d+ \| \d\.\d+ ± \d\.\d+ \|", text), text
    assert "| true \\ predicted | no_sub | cdm | axion | recall |" in text
    assert (result.run_dir / "plots" / "substructure.png").stat().st_size > 20_000
    header = (result.run_dir / "fold_0" / "oof.csv").read_text().splitlines()[0]
    assert header == "index,system_id,label,kind,class,p_no_sub,p_cdm,p_axion"
