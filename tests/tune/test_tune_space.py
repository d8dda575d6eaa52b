"""The search space: which [model] fields are tuned and how trials turn into experiments."""
from __future__ import annotations

import optuna
import pytest

from lensfind.config import Experiment
from lensfind.tune.space import dropout_fields, params_to_sections, suggest_config, tuned_params
from lensfind.validation import ConfigError


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
