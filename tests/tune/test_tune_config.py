"""The [tune] table and the search space."""
from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from lensfind.config import Experiment, experiment_from_dict, load_experiment
from lensfind.config.tune import TuneConfig
from lensfind.tune.space import dropout_fields, params_to_sections, suggest_config, tuned_params
from lensfind.validation import ConfigError

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def test_files_without_a_tune_table_get_the_defaults():
    exp = experiment_from_dict({"experiment": {"name": "x"}})
    assert exp.tune == TuneConfig()
    assert exp.tune.objective_names("classify") == ("auc",)
    assert exp.tune.objective_names("regress") == ("nll",)
    assert exp.tune.directions("classify") == ["maximize"]
    assert exp.tune.monitor_key("classify") == "val_auc"
    assert exp.tune.monitor_key("regress") == "val_loss"


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
        exp.tune.directions("classify")
    assert exp.tune.directions("regress") == ["minimize"]


@pytest.mark.parametrize("name", ["tune-dropout", "tune-dropout-regress"])
def test_shipped_tuning_experiments_load_and_have_a_search_space(name):
    for small in (False, True):
        exp = load_experiment(EXPERIMENTS / f"{name}.toml", small=small)
        assert exp.name == name + ("-small" if small else "")
        assert tuned_params(exp) == ("pool_dropout", "dense_dropout")
        assert exp.tune.directions(exp.experiment.task)


def test_dropout_fields_follow_the_network():
    exp = Experiment()
    assert {"pool_dropout", "dense_dropout", "conv_dropout"} <= set(dropout_fields(exp))
    assert tuned_params(exp) == ("pool_dropout", "dense_dropout")  # conv_dropout: alexnet only
    alex = exp.replace(model={"backbone": "alexnet_bn"})
    assert "conv_dropout" in tuned_params(alex)
    no_dense = exp.replace(model={"dense_units": 0})
    assert tuned_params(no_dense) == ("pool_dropout",)
    with pytest.raises(ConfigError, match=r"tune.params = \['dense_units'\] is invalid"):
        tuned_params(exp.replace(tune={"params": ["dense_units"]}))


def test_suggest_config_sets_every_searched_value():
    exp = Experiment().replace(tune={"learning_rate": [1e-5, 1e-2], "dense_units": [16, 64]})
    trial = optuna.trial.FixedTrial({"model.pool_dropout": 0.1, "model.dense_dropout": 0.55,
                                     "model.dense_units": 64, "train.learning_rate": 3e-4})
    cfg = suggest_config(trial, exp)
    assert (cfg.model.pool_dropout, cfg.model.dense_dropout) == (0.1, 0.55)
    assert cfg.model.dense_units == 64 and cfg.train.learning_rate == 3e-4
    assert cfg.model.backbone == exp.model.backbone and cfg.tune == exp.tune
    assert params_to_sections(trial.params) == {
        "model": {"pool_dropout": 0.1, "dense_dropout": 0.55, "dense_units": 64},
        "train": {"learning_rate": 3e-4}}


def test_suggestions_stay_inside_the_configured_range():
    exp = Experiment().replace(tune={"dropout": [0.05, 0.15]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    for _ in range(20):
        cfg = suggest_config(study.ask(), exp)
        assert 0.05 <= cfg.model.pool_dropout <= 0.15
        assert 0.05 <= cfg.model.dense_dropout <= 0.15
