"""``tune()`` and ``lensfind tune`` end to end with the closed-form objective: study database in
the run directory, continuation, plots, best configuration written back as an experiment file."""
from __future__ import annotations

import json
import tomllib

import optuna
import pytest
from PIL import Image

from lensfind.cli import main
from lensfind.config import load_experiment
from lensfind.tune.run import tune
from lensfind.tune.storage import default_storage_url, open_study

TOML = """\
[experiment]
name = "tune-cli"
seed = 11

[model]
backbone = "lensflow"
regime = "random"
weights = "none"
dense_units = 16
pool_dropout = 0.5

[train]
epochs = 3

[tune]
n_trials = 4
startup_trials = 2
pruner = "none"

[small.experiment]
name = "tune-cli-small"

[small.train]
epochs = 1

[small.model]
pool_dropout = 0.6
"""


def _png_ok(path):
    with Image.open(path) as img:
        assert img.size[0] > 200 and img.size[1] > 150


def test_single_objective_study_report_and_best_experiment(tmp_path, make_exp):
    import matplotlib
    exp = make_exp("report-one", startup_trials=3)
    keys = ("axes.facecolor", "axes.prop_cycle", "grid.color", "axes.edgecolor")
    style = {k: matplotlib.rcParams[k] for k in keys}
    summary = tune(exp, n_trials=6, runs_dir=tmp_path, objective="synthetic")
    # Optuna's plots set the ggplot style process-wide; later stages' plots must not inherit it
    assert {k: matplotlib.rcParams[k] for k in keys} == style
    assert summary["counts"]["complete"] == 6 and summary["worker_exit_codes"] == [0]
    out = tmp_path / "report-one" / "tune" / "report-one"
    assert summary["report_dir"] == str(out)
    assert (tmp_path / "report-one" / "tune" / "study.db").is_file()
    names = {p.rsplit("/", 1)[1] for p in summary["plots"]}
    assert {"history.png", "slice.png", "importances.png"} <= names
    for path in summary["plots"]:
        _png_ok(path)
    best = summary["best"][0]
    written = load_experiment(out / "best.toml")
    assert written.name == "report-one-best"
    assert written.model.pool_dropout == best["params"]["model.pool_dropout"]
    assert written.model.dense_dropout == best["params"]["model.dense_dropout"]
    assert json.loads((out / "summary.json").read_text())["best"][0]["number"] == best["number"]
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("number,state,auc,")


def test_multi_objective_study_has_a_pareto_front(tmp_path, make_exp):
    exp = make_exp("report-two", objectives=["nll", "calibration"]).replace(
        experiment={"task": "regress"})
    summary = tune(exp, n_trials=8, runs_dir=tmp_path, objective="synthetic")
    assert summary["directions"] == ["minimize", "minimize"]
    assert summary["counts"]["complete"] == 8  # multi-objective studies never prune
    assert any(p.endswith("pareto.png") for p in summary["plots"])
    for path in summary["plots"]:
        _png_ok(path)
    front = summary["best"]
    assert len(front) >= 1
    nll = [t["values"]["nll"] for t in front]
    assert nll == sorted(nll)
    text = (tmp_path / "report-two" / "tune" / "report-two" / "best.toml").read_text()
    assert "Pareto trial with the best nll" in text


def test_cli_tune_continues_the_same_study_and_writes_a_cv_ready_file(tmp_path, capsys):
    path = tmp_path / "tune-cli.toml"
    path.write_text(TOML)
    runs = tmp_path / "runs"
    args = ["tune", str(path), "--small", "--objective", "synthetic", "--runs-dir", str(runs)]
    assert main(args + ["--n-trials", "3"]) == 0
    first = capsys.readouterr().out
    assert "3 trials wanted, 3 queued now" in first and "3 complete" in first
    # same command again: the study is complete, nothing is added
    assert main(args + ["--n-trials", "3"]) == 0
    assert "3 trials wanted, 0 queued now" in capsys.readouterr().out
    # more trials: only the missing ones run, in the same study (the [small] name)
    assert main(args + ["--workers", "1"]) == 0  # [tune] n_trials = 4
    assert "4 trials wanted, 1 queued now" in capsys.readouterr().out
    exp = load_experiment(path, small=True)
    study = optuna.load_study(study_name="tune-cli-small",
                              storage=default_storage_url(exp, runs))
    assert len(study.trials) == 4
    best_file = runs / "tune-cli-small" / "tune" / "tune-cli-small" / "best.toml"
    data = tomllib.loads(best_file.read_text())
    assert "tune" not in data
    assert data["experiment"]["name"] == "tune-cli-best"
    assert data["model"]["pool_dropout"] == study.best_params["model.pool_dropout"]
    # the tuned value also holds with --small: the [small] table no longer overrides it
    assert "pool_dropout" not in data.get("small", {}).get("model", {})
    assert load_experiment(best_file, small=True).model.pool_dropout == \
        study.best_params["model.pool_dropout"]
    assert load_experiment(best_file, small=True).train.epochs == 1
    assert load_experiment(best_file, small=True).name == "tune-cli-best-small"


def test_cli_refuses_a_study_with_other_objectives(tmp_path, capsys, make_exp):
    path = tmp_path / "tune-cli.toml"
    path.write_text(TOML)
    runs = tmp_path / "runs"
    exp = load_experiment(path)
    open_study(exp.replace(tune={"objectives": ["val_loss"]}),
               storage=default_storage_url(exp, runs), study_name="tune-cli")
    code = main(["tune", str(path), "--objective", "synthetic", "--runs-dir", str(runs),
                 "--n-trials", "1"])
    assert code == 2
    assert "optimises ['minimize']" in capsys.readouterr().err


def test_cli_refuses_bad_arguments_before_any_work(tmp_path, capsys):
    path = tmp_path / "tune-cli.toml"
    path.write_text(TOML)
    assert main(["tune", str(path), "--n-trials", "0", "--runs-dir", str(tmp_path)]) == 2
    assert "n_trials = 0" in capsys.readouterr().err
    assert main(["tune", str(path), "--storage", "nonsense", "--runs-dir", str(tmp_path)]) == 2
    assert "storage = 'nonsense' is invalid" in capsys.readouterr().err
    assert not (tmp_path / "tune-cli").exists()


def test_a_study_refuses_to_continue_with_other_settings(tmp_path, make_exp):
    from lensfind.validation import ConfigError
    exp = make_exp("settings")
    url = default_storage_url(exp, tmp_path)
    open_study(exp, storage=url, study_name="s")
    # how the search runs may change between runs of a study ...
    open_study(exp.replace(tune={"n_trials": 50, "workers": 3, "pruner": "median"}),
               storage=url, study_name="s")
    # ... what is trained and searched may not
    with pytest.raises(ConfigError, match=r"other settings: model\.dense_units, "
                                          r"tune\.dropout differ"):
        open_study(exp.replace(model={"dense_units": 8}, tune={"dropout": [0.0, 0.5]}),
                   storage=url, study_name="s")
