"""Run directories, the per-epoch checkpoint journal and resumable early stopping."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from lensfind.config import Experiment, to_plain
from lensfind.train.callbacks import ResumableEarlyStopping
from lensfind.train.rundir import (RunDir, RunError, commit_files, find_resumable, pending_name,
                                   recover_fold)


def test_create_open_and_lookup(tmp_path):
    exp = Experiment().replace(experiment={"name": "rd"})
    a = RunDir.create(tmp_path / "rd" / "a", exp)
    info = json.loads((a.path / "run.json").read_text())
    assert info["format"] == "lensfind-run" and info["experiment"] == "rd"
    assert "keras" in info["versions"] and "commit" in info["git"]
    assert to_plain(RunDir(a.path).experiment()) == to_plain(exp)
    b = RunDir.create(tmp_path / "rd" / "b", exp.replace(train={"epochs": 3}))
    assert find_resumable(tmp_path, exp).path == a.path
    assert find_resumable(tmp_path, exp.replace(train={"epochs": 3})).path == b.path
    assert find_resumable(tmp_path, exp.replace(train={"epochs": 4})) is None
    assert a.finished_folds() == [] and not a.is_complete() and a.n_folds() == 7
    with pytest.raises(RunError, match="already a run directory"):
        RunDir.create(a.path, exp)
    with pytest.raises(RunError, match="no summary.json yet"):
        a.summary()
    with pytest.raises(RunError, match="no folds.json yet"):
        a.folds()


def test_a_run_saved_with_retired_settings_still_loads(tmp_path):
    exp = Experiment().replace(experiment={"name": "old"})
    run = RunDir.create(tmp_path / "old", exp)
    saved = run.path / "experiment.toml"
    saved.write_text(saved.read_text().replace("[simulation.ring]\n",
                                               "[simulation.ring]\nclumps = [1, 5]\n"))
    assert "clumps = [1, 5]" in saved.read_text()
    assert to_plain(RunDir(run.path).experiment()) == to_plain(exp)


@pytest.mark.parametrize("setup, why", [
    (lambda p: None, "no such folder"),
    (lambda p: p.mkdir(), "no run.json"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text('{"a": 1}')), "format"),
    (lambda p: (p.mkdir(), (p / "run.json").write_text('{')), "unreadable"),
])
def test_not_a_run_directory(tmp_path, setup, why):
    path = tmp_path / "x"
    setup(path)
    with pytest.raises(RunError, match=why):
        RunDir(path)


def _write(folder, name, text):
    (folder / name).write_text(text)


def test_journal_rolls_forward_when_state_was_written(tmp_path):
    for name, text in (("checkpoint.keras", "old"), ("state.json", "old")):
        _write(tmp_path, name, text)
    _write(tmp_path, pending_name("checkpoint.keras"), "new")
    _write(tmp_path, pending_name("state.json"), "new")
    commit_files(tmp_path, ["checkpoint.keras"])        # killed after the first rename
    recover_fold(tmp_path)
    assert (tmp_path / "checkpoint.keras").read_text() == "new"
    assert (tmp_path / "state.json").read_text() == "new"
    assert not list(tmp_path.glob("new.*"))


def test_journal_rolls_back_when_state_is_missing(tmp_path):
    for name in ("checkpoint.keras", "state.json", "best.weights.h5"):
        _write(tmp_path, name, "old")
    _write(tmp_path, pending_name("best.weights.h5"), "new")
    _write(tmp_path, pending_name("checkpoint.keras"), "half")   # killed while writing
    recover_fold(tmp_path)
    assert all((tmp_path / n).read_text() == "old"
               for n in ("checkpoint.keras", "state.json", "best.weights.h5"))
    assert not list(tmp_path.glob("new.*"))


def _tiny_model():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    m.compile("adam", "mse")
    return m


def test_early_stopping_resumes_its_counters():
    m = _tiny_model()
    es = ResumableEarlyStopping(monitor="val_loss", mode="min", patience=2)
    es.set_model(m)
    es.on_train_begin()
    for epoch, v in enumerate([1.0, 0.5, 0.6]):
        es.on_epoch_end(epoch, {"val_loss": v})
    state = es.get_state()
    assert state == {"wait": 1, "best": 0.5, "best_epoch": 1, "stopped_epoch": 0}
    again = ResumableEarlyStopping(monitor="val_loss", mode="min", patience=2,
                                   initial_state=state)
    again.set_model(m)
    again.on_train_begin()
    logs = {"val_loss": 0.7}
    again.on_epoch_end(3, logs)
    assert m.stop_training and again.stopped_epoch == 3 and logs["improved"] == 0.0
    assert np.isclose(again.best, 0.5)


def test_a_new_cv_call_reuses_the_latest_unfinished_run_of_the_same_settings(tmp_path):
    import io

    from lensfind.train.cv import open_run
    exp = Experiment().replace(experiment={"name": "again"})
    first = open_run(exp, None, tmp_path, False, io.StringIO())
    out = io.StringIO()
    assert open_run(exp, None, tmp_path, False, out).path == first.path
    assert "reusing run" in out.getvalue()
    assert open_run(exp, None, tmp_path, True, io.StringIO()).path != first.path   # --new
    other = open_run(exp.replace(train={"epochs": 2}), None, tmp_path, False, io.StringIO())
    assert other.path != first.path and other.path.parent == first.path.parent


def test_tensorboard_is_skipped_with_a_note_when_unavailable(monkeypatch, tmp_path):
    import importlib.util

    from lensfind.train import callbacks
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else real(name, *a))
    cb, note = callbacks.tensorboard_callback(tmp_path)
    assert cb is None and "tensorboard package is not installed" in note
