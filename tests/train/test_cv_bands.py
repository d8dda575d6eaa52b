"""experiments/cv-lensflow-gri.toml: 3-band (g, r, i) lens finding runs end to end (its [small]
table, shrunk further to CI time), the models take 3 channels, and `lensfind score` scores the
run's own simulated set as an N x H x W x 3 stack."""
from __future__ import annotations

import io
from pathlib import Path

from lensfind.config import load_experiment
from lensfind.score.committee import load_member
from lensfind.score.runner import ScoreOptions, score_candidates
from lensfind.train.cv import run_cv
from lensfind.train.rundir import RunDir

EXPERIMENT = Path(__file__).parents[2] / "experiments" / "cv-lensflow-gri.toml"


def test_small_gri_experiment_trains_on_three_bands(tmp_path, monkeypatch):
    exp = load_experiment(EXPERIMENT, small=True, overrides=[
        "simulation.n_lenses=24", "simulation.n_nonlenses=24", "train.folds=2",
        "train.epochs=1"])
    assert exp.simulation.band_names == ("g", "r", "i") and exp.simulation.pixel_scale == 0.2
    monkeypatch.setenv("LENSFIND_DATA_DIR", str(tmp_path / "data"))
    result = run_cv(exp, runs_root=tmp_path / "runs", stream=io.StringIO())
    assert result.complete and len(result.folds) == 2
    assert all(0.0 <= f.metrics["roc_auc"] <= 1.0 for f in result.folds)
    models = RunDir(result.run_dir).load_models()
    assert all(tuple(m.input_shape) == (None, 56, 56, 3) for m in models)
    assert load_member(result.run_dir).bands == ("g", "r", "i")
    (stack,) = sorted((tmp_path / "data").rglob("*.h5"))
    (tmp_path / "idx.csv").write_text("id,index\na,0\nb,47\nc,48\n")
    scored = score_candidates(tmp_path / "idx.csv", result.run_dir, tmp_path / "s.csv",
                              stack=stack, options=ScoreOptions(progress=False, top=0))
    assert scored.counts == {"ok": 2, "index_out_of_range": 1}
