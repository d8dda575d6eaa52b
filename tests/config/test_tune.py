"""The [tune] table and the search space."""
from __future__ import annotations

from pathlib import Path

import pytest

from lensfind.config import experiment_from_dict, load_experiment
from lensfind.config.tune import TuneConfig
from lensfind.tasks import TASKS
from lensfind.tune.space import tuned_params
from lensfind.validation import ConfigError

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def test_files_without_a_tune_table_get_the_defaults():
    exp = experiment_from_dict({"experiment": {"name": "x"}})
    assert exp.tune == TuneConfig()
    assert exp.tune.objective_names(TASKS["classify"]) == ("auc",)
    assert exp.tune.objective_names(TASKS["regress"]) == ("nll",)
    assert exp.tune.directions(TASKS["classify"]) == ["maximize"]
    assert exp.tune.monitor_key(TASKS["classify"]) == "val_auc"
    assert exp.tune.monitor_key(TASKS["regress"]) == "val_loss"


@pytest.mark.parametrize("table, message", [
    ({"mode": "grid"}, r"tune\.mode = 'grid' is invalid: expected one of 'cv', 'holdout'"),
    ({"objectives": ["auc", "auc"]}, "without repeats"),
    ({"objectives": ["accuracy"]}, r"tune\.objectives = 'accuracy' is invalid"),
    ({"dropout": [0.2, 1.0]}, r"tune\.dropout = 1\.0 is invalid: expected a number in \[0\.0, 1\.0\)"),
    ({"dropout": [0.5, 0.1]}, "low <= high"),
    ({"n_trials": 0}, r"tune\.n_trials = 0 is invalid"),
    ({"heartbeat_interval": 10, "grace_period": 5}, "more seconds than tune.heartbeat_interval"),
    ({"learning_rate": [0.0, 1e-3]}, r"tune\.learning_rate"),
    ({"dense_units": [64, -1]}, r"tune\.dense_units"),
    ({"pruner": "asha"}, r"tune\.pruner = 'asha'"),
    ({"colour": 1}, r"tune: unknown setting\(s\) colour"),
])
def test_bad_tune_settings_are_refused_naming_field_and_value(table, message):
    with pytest.raises(ConfigError, match=message):
        experiment_from_dict({"tune": table}, source="t.toml")


def test_classification_refuses_regression_objectives():
    exp = experiment_from_dict({"tune": {"objectives": ["nll"]}})
    with pytest.raises(ConfigError, match="tune.objectives = 'nll'"):
        exp.tune.directions(TASKS["classify"])
    assert exp.tune.directions(TASKS["regress"]) == ["minimize"]


@pytest.mark.parametrize("name", ["tune-dropout", "tune-dropout-regress"])
def test_shipped_tuning_experiments_load_and_have_a_search_space(name):
    for small in (False, True):
        exp = load_experiment(EXPERIMENTS / f"{name}.toml", small=small)
        assert exp.name == name + ("-small" if small else "")
        assert tuned_params(exp) == ("pool_dropout", "dense_dropout")
        assert exp.tune.directions(TASKS[exp.experiment.task])
