"""Sweeps: one cross-validation run per swept value, on one data set, tabled together."""
from __future__ import annotations

from lensfind.config import experiment_from_dict
from lensfind.train import sweep
from lensfind.train.cv import CVResult
from lensfind.train.summary import FoldResult


def test_run_sweep_runs_each_value_on_one_data_set_and_tables_them(tmp_path, monkeypatch):
    calls, loads = [], []
    monkeypatch.setattr(sweep, "load_dataset", lambda exp, **kw: loads.append(exp.name) or "DS")

    def fake_run_cv(exp, *, runs_root, progress, stream, dataset):
        calls.append((exp.name, exp.model.pool_dropout, dataset))
        fold = FoldResult(0, {"coverage_1sigma": exp.model.pool_dropout * 10}, {})
        return CVResult(run_dir=tmp_path / exp.name, folds=[fold], k=2)

    monkeypatch.setattr(sweep, "run_cv", fake_run_cv)
    exp = experiment_from_dict({"experiment": {"name": "sw", "task": "regress"},
                                "model": {"head": "mvn_full"},
                                "sweep": {"name": "dropout", "keys": ["model.pool_dropout"],
                                          "values": [0.02, 0.1]}})
    folder = sweep.run_sweep(exp, runs_root=tmp_path, progress=False)
    assert loads == ["sw"]
    assert calls == [("sw-dropout0.02", 0.02, "DS"), ("sw-dropout0.1", 0.1, "DS")]
    lines = (folder / "sweep.csv").read_text().splitlines()
    assert lines[0] == "dropout,run,folds,coverage_1sigma" and lines[2].startswith("0.1,")
    assert "| 0.02 |" in (folder / "sweep.md").read_text()
