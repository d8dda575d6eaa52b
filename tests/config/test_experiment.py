from pathlib import Path

import pytest

from lensfind.config import Experiment, experiment_from_dict, load_experiment, to_plain
from lensfind.validation import ConfigError

EXPERIMENTS = sorted((Path(__file__).parents[2] / "experiments").glob("*.toml"))


def test_defaults_round_trip_through_plain_dict():
    exp = Experiment()
    assert experiment_from_dict(to_plain(exp)) == exp


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_every_shipped_experiment_loads_full_and_small(path):
    full = load_experiment(path)
    small = load_experiment(path, small=True)
    assert full.experiment.task == small.experiment.task


def test_small_table_and_overrides_apply_in_order(tmp_path):
    path = tmp_path / "e.toml"
    path.write_text('[experiment]\nname = "x"\n[train]\nepochs = 30\n'
                    '[small.train]\nepochs = 2\nfolds = 3\n')
    assert load_experiment(path).train.epochs == 30
    small = load_experiment(path, small=True)
    assert (small.train.epochs, small.train.folds) == (2, 3)
    over = load_experiment(path, small=True, overrides=["train.epochs=5", "model.backbone=vgg16"])
    assert (over.train.epochs, over.model.backbone) == (5, "vgg16")


def test_errors_name_the_file_field_and_allowed_values(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nfolds = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: train\.folds = 1 is invalid: expected a number in \[2, 100\]"):
        load_experiment(path)
    path.write_text("[trian]\nfolds = 3\n")
    with pytest.raises(ConfigError, match=r"unknown table\(s\) trian"):
        load_experiment(path)
    path.write_text("[train\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_experiment(path)
    with pytest.raises(ConfigError, match="cannot read experiment file"):
        load_experiment(tmp_path / "missing.toml")


def test_replace_validates():
    exp = Experiment()
    assert exp.replace(train={"epochs": 3}).train.epochs == 3
    with pytest.raises(ConfigError, match="train.epochs"):
        exp.replace(train={"epochs": 0})


def test_retired_settings_are_refused_in_files_and_dropped_from_saved_runs(tmp_path):
    path = tmp_path / "old.toml"
    path.write_text("[simulation.ring]\nradius = [0.9, 1.8]\nclump_amplitude = [0.0, 0.9]\n"
                    "clumps = [1, 5]\n")
    with pytest.raises(ConfigError, match=r"old\.toml: simulation\.ring\.clump_amplitude, "
                                          r"simulation\.ring\.clumps: retired setting\(s\): "
                                          r"the ring non-lens kind is a ring galaxy"):
        load_experiment(path)
    saved = load_experiment(path, retired="drop")
    assert saved.simulation.ring.radius == (0.9, 1.8)   # the rest of the table is kept
    with pytest.raises(ConfigError, match="retired = 'keep' is invalid"):
        load_experiment(path, retired="keep")
