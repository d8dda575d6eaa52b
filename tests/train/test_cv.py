"""Cross-validation end to end with the real pieces (simulator, HDF5 store, zoo, run_cv):
it learns, writes a complete run directory, survives a SIGKILL mid-fold, and `--fold k` runs
plus `aggregate` reproduce the uninterrupted run exactly."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from lensfind.config import to_plain
from lensfind.data.store import to_toml
from lensfind.train.cv import run_cv
from lensfind.train.oof import read_oof
from lensfind.train.summary import aggregate
from lensfind.train.rundir import RunDir

pytestmark = pytest.mark.slow

KILL_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    import keras
    from lensfind.config import load_experiment
    from lensfind.train.cv import run_cv

    class KillMidEpoch(keras.callbacks.Callback):
        # SIGKILL (no clean-up of any kind) in the middle of epoch 2 of the fold
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                os.kill(os.getpid(), signal.SIGKILL)

    run_cv(load_experiment(sys.argv[1]), run_dir=sys.argv[2], folds=[1],
           callbacks=[KillMidEpoch()])
""")


def _scores(run_dir: Path, k: int) -> dict[str, np.ndarray]:
    return read_oof(Path(run_dir) / f"fold_{k}" / "oof.csv")


def test_tiny_cv_learns_and_writes_a_complete_run_directory(reference_run, easy_exp):
    result, seconds, printed = reference_run
    run = RunDir(result.run_dir)
    assert result.complete and len(result.folds) == 3
    aucs = [f.metrics["roc_auc"] for f in result.folds]
    assert min(aucs) > 0.8, aucs          # bright lenses vs. lens galaxies: far above chance
    # run directory contents
    for name in ("experiment.toml", "run.json", "folds.json", "summary.csv", "summary.md",
                 "summary.json", "plots/roc.png", "plots/learning_curves.png"):
        assert (run.path / name).is_file(), name
    info = json.loads((run.path / "run.json").read_text())
    assert info["seed"] == 5 and info["task"] == "classify"
    assert info["seeds"]["master"] == 5 and len(info["seeds"]["init"]) == 3
    assert {"numpy", "keras", "tensorflow", "lensfind"} <= set(info["versions"])
    assert "commit" in info["git"]
    assert to_plain(run.experiment()) == to_plain(easy_exp)
    for k in range(3):
        d = run.fold_dir(k)
        for name in ("model.keras", "metrics.json", "oof.csv", "history.csv", "state.json",
                     "DONE"):
            assert (d / name).is_file(), (k, name)
        assert not (d / "checkpoint.keras").exists()     # only kept while a fold is unfinished
        rows = (d / "history.csv").read_text().strip().splitlines()
        assert len(rows) == 1 + 2 and "val_loss" in rows[0]
        m = json.loads((d / "metrics.json").read_text())
        assert m["cpu_seconds_per_epoch"] > 0 and m["parameters"] >= m["trainable_parameters"] > 0
    # out-of-fold predictions cover every image once; systems never straddle folds
    oof = [_scores(run.path, k) for k in range(3)]
    index = np.concatenate([o["index"] for o in oof])
    assert np.array_equal(np.sort(index), np.arange(120))
    systems = [set(o["system_id"].tolist()) for o in oof]
    assert not (systems[0] & systems[1] or systems[0] & systems[2] or systems[1] & systems[2])
    assert set(np.concatenate([o["kind"] for o in oof])) == {"lens", "lens_galaxy"}
    folds = json.loads((run.path / "folds.json").read_text())["folds"]
    for f in folds:   # validation images come from the training folds only
        assert set(f["val"]) <= set(f["train"]) and not set(f["val"]) & set(f["test"])
    # summary: Table 5-1 layout
    summary = result.summary
    assert summary["metrics"]["roc_auc"]["mean"] == pytest.approx(np.mean(aucs))
    md = (run.path / "summary.md").read_text()
    assert "| Model | Regime | Parameters |" in md and "ROC AUC" in md and "TPR (FPR=0)" in md
    assert "lensflow" in md and " ± " in md
    csv_head = (run.path / "summary.csv").read_text().splitlines()[0]
    for col in ("model", "parameters", "roc_auc_mean", "roc_auc_std", "f1_mean", "f1_std",
                "tpr_fpr0_mean", "tpr_fpr1e-3_mean"):
        assert col in csv_head.split(",")
    assert "epoch 1/2" in printed and "img/s" in printed and "CPU s" in printed
    print(f"reference run: {seconds:.1f} s wall, "
          f"{summary['cpu_seconds_per_epoch']:.2f} CPU s per epoch")


def test_saved_models_load_safely_and_reproduce_the_out_of_fold_scores(reference_run, data_dir):
    from lensfind.data.store import read_set
    result, _, _ = reference_run
    run = RunDir(result.run_dir)
    (path,) = list(Path(data_dir).rglob("*.h5"))
    ds = read_set(path)
    models = run.load_models()          # safe_mode=True
    assert len(models) == 3
    model = models[1]
    oof = _scores(run.path, 1)
    p = model.predict(ds.images[oof["index"]][..., None], verbose=0)[:, 1]
    assert np.allclose(p, oof["score"], atol=1e-6)


@pytest.fixture(scope="module")
def killed_then_resumed(reference_run, easy_exp, data_dir, tmp_path_factory):
    """Fold 1 alone in a subprocess, SIGKILLed mid-epoch 2; then resumed here; then folds 0 and
    2 alone; then `aggregate`."""
    root = tmp_path_factory.mktemp("killed")
    toml = root / "easy.toml"
    toml.write_text(to_toml(to_plain(easy_exp)))
    script = root / "kill.py"
    script.write_text(KILL_SCRIPT)
    run_dir = root / "run"
    env = dict(os.environ, LENSFIND_DATA_DIR=str(data_dir), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, str(script), str(toml), str(run_dir)], env=env,
                          capture_output=True, text=True, timeout=600)
    facts = {"returncode": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-3000:]}
    fold = run_dir / "fold_1"
    facts["state_after_kill"] = json.loads((fold / "state.json").read_text()) \
        if (fold / "state.json").is_file() else None
    facts["done_after_kill"] = (fold / "DONE").exists()
    facts["history_rows_after_kill"] = len((fold / "history.csv").read_text().splitlines()) \
        if (fold / "history.csv").is_file() else None
    old = os.environ.get("LENSFIND_DATA_DIR")
    os.environ["LENSFIND_DATA_DIR"] = str(data_dir)
    try:
        resumed = run_cv(easy_exp, run_dir=run_dir, folds=[1], progress=True)
        facts["summary_after_one_fold"] = resumed.summary
        facts["resumed_info"] = resumed.folds[0].info
        run_cv(easy_exp, run_dir=run_dir, folds=[0], progress=False)
        last = run_cv(easy_exp, run_dir=run_dir, folds=[2], progress=False)
    finally:
        if old is None:
            os.environ.pop("LENSFIND_DATA_DIR", None)
        else:
            os.environ["LENSFIND_DATA_DIR"] = old
    (run_dir / "summary.json").unlink()
    facts["aggregated"] = aggregate(run_dir, progress=False)
    facts["last"] = last
    facts["run_dir"] = run_dir
    return facts


def test_sigkill_mid_fold_then_resume_gives_the_uninterrupted_result(killed_then_resumed,
                                                                    reference_run):
    f = killed_then_resumed
    assert f["returncode"] == -signal.SIGKILL, f["stderr"]
    state = f["state_after_kill"]
    assert state is not None and state["epoch"] == 1 and not state["stopped"]
    assert not f["done_after_kill"]
    assert f["resumed_info"]["resumed_from"] == 1
    assert f["summary_after_one_fold"] is None          # 1 of 3 folds: no summary yet
    ref = reference_run[0].run_dir
    a, b = _scores(ref, 1), _scores(f["run_dir"], 1)
    assert np.array_equal(a["index"], b["index"])
    assert np.array_equal(a["score"], b["score"]), np.abs(a["score"] - b["score"]).max()
    ha = json.loads((Path(ref) / "fold_1" / "state.json").read_text())["history"]
    hb = json.loads((f["run_dir"] / "fold_1" / "state.json").read_text())["history"]
    for ea, eb in zip(ha, hb, strict=True):
        assert ea["loss"] == eb["loss"] and ea["val_loss"] == eb["val_loss"]
    rows = (f["run_dir"] / "fold_1" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 3      # header + 2 epochs: the killed epoch's row is not duplicated


def test_single_folds_then_aggregate_equal_the_full_run(killed_then_resumed, reference_run):
    f = killed_then_resumed
    ref = reference_run[0]
    assert f["last"].complete and f["last"].summary is not None
    for k in range(3):
        a, b = _scores(ref.run_dir, k), _scores(f["run_dir"], k)
        assert np.array_equal(a["score"], b["score"]), k
    agg, full = f["aggregated"], ref.summary
    assert agg["metrics"] == full["metrics"]
    assert agg["pooled"] == full["pooled"]
    assert agg["per_fold"] == full["per_fold"]
    assert (f["run_dir"] / "summary.md").read_text().split("\n")[2] == \
        (Path(ref.run_dir) / "summary.md").read_text().split("\n")[2]


def test_rerun_reuses_the_finished_run_and_cli_commands(reference_run, easy_exp, data_dir,
                                                       tmp_path, capsys, monkeypatch):
    from lensfind.cli import main
    result = reference_run[0]
    runs_root = Path(result.run_dir).parent.parent
    monkeypatch.setenv("LENSFIND_DATA_DIR", str(data_dir))
    again = run_cv(easy_exp, runs_root=runs_root, progress=False)   # nothing is retrained
    assert again.run_dir == result.run_dir and again.complete
    toml = tmp_path / "easy.toml"
    toml.write_text(to_toml(to_plain(easy_exp)))
    assert main(["cv", str(toml), "--runs-dir", str(runs_root)]) == 0
    assert "found complete run" in capsys.readouterr().out
    assert main(["aggregate", str(result.run_dir)]) == 0
    assert "| lensflow | random |" in capsys.readouterr().out
    out = tmp_path / "compare"
    assert main(["compare", "--runs-dir", str(runs_root), "--out", str(out)]) == 0
    assert (out / "comparison.md").is_file() and (out / "overview.png").stat().st_size > 10_000
    assert "easy-cv" in (out / "comparison.csv").read_text()
    assert main(["aggregate", str(tmp_path)]) == 2
    assert "not a lensfind run directory" in capsys.readouterr().err
