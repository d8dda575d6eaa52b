"""The Keras 3 pruning callback with real Keras fits and real Optuna studies."""
from __future__ import annotations

import keras
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from lensfind.tune.pruning import KerasPruningCallback, can_prune


def _fit(callback, epochs=4, seed=0):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(32, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss="binary_crossentropy", run_eagerly=True)
    return model.fit(x, y, validation_data=(x, y), epochs=epochs, verbose=0,
                     callbacks=[callback])


def test_keras_3_fit_is_pruned_and_the_trial_ends_pruned():
    # ThresholdPruner: any val_loss above 0 after the warm-up step prunes -> pruned at epoch 1
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0,
                                                                      n_warmup_steps=1))
    seen = {}

    def objective(trial):
        cb = KerasPruningCallback(trial, "val_loss", epochs_per_stage=4)
        seen["cb"] = cb
        _fit(cb)
        return 1.0

    study.optimize(objective, n_trials=1)
    trial = study.trials[0]
    assert trial.state == TrialState.PRUNED
    assert sorted(trial.intermediate_values) == [0, 1]  # stopped after the second epoch
    assert seen["cb"].pruned


def test_without_raising_the_fit_stops_and_the_caller_raises():
    study = optuna.create_study(pruner=optuna.pruners.ThresholdPruner(upper=0.0))
    trial = study.ask()
    cb = KerasPruningCallback(trial, "val_loss", raise_pruned=False)
    history = _fit(cb, epochs=5)
    assert len(history.history["val_loss"]) == 1 and cb.pruned
    with pytest.raises(optuna.TrialPruned):
        cb.raise_if_pruned()


def test_each_fit_is_a_stage_with_its_own_steps():
    study = optuna.create_study(pruner=optuna.pruners.NopPruner())
    trial = study.ask()
    cb = KerasPruningCallback(trial, "val_loss", epochs_per_stage=3)
    _fit(cb, epochs=3)
    _fit(cb, epochs=2, seed=1)  # the second CV fold
    assert [s for s, _ in cb.reported] == [0, 1, 2, 3, 4]
    assert sorted(study._storage.get_trial(trial._trial_id).intermediate_values) == [0, 1, 2, 3, 4]


def test_multi_objective_trial_is_never_pruned_nor_reported():
    study = optuna.create_study(directions=["maximize", "minimize"])
    trial = study.ask()
    assert not can_prune(trial)
    cb = KerasPruningCallback(trial, "val_loss", epochs_per_stage=3)
    history = _fit(cb, epochs=3)
    assert len(history.history["val_loss"]) == 3 and not cb.pruned
    assert len(cb.reported) == 3
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {}


def test_fixed_trial_runs_unpruned():
    trial = optuna.trial.FixedTrial({})
    cb = KerasPruningCallback(trial, "val_loss")
    assert len(_fit(cb, epochs=2).history["loss"]) == 2 and not cb.pruned


def test_a_missing_monitor_fails_loudly_with_the_keys_there_are():
    trial = optuna.create_study().ask()
    with pytest.raises(KeyError, match="val_auc.*the logs have.*val_loss"):
        _fit(KerasPruningCallback(trial, "val_auc"), epochs=1)
