"""One run per output (lensfind.score.lock)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from lensfind.score.lock import OutputLocked, lock_path, output_lock


def test_a_second_run_on_the_same_output_is_refused_naming_pid_and_host(tmp_path):
    out = tmp_path / "s.csv"
    with output_lock(out, print) as path:
        assert json.loads(path.read_text())["pid"] == os.getpid()
        with pytest.raises(OutputLocked) as err:
            with output_lock(out, print):
                pass
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(err.value)
        assert str(path) in str(err.value)
    assert not lock_path(out).exists()


def test_a_lock_of_a_dead_process_on_this_host_is_taken_over_with_a_note(tmp_path):
    out = tmp_path / "s.csv"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    lock_path(out).write_text(json.dumps({"pid": int(dead), "host": socket.gethostname()}))
    notes = []
    with output_lock(out, notes.append):
        assert json.loads(lock_path(out).read_text())["pid"] == os.getpid()
    assert notes == [f"{lock_path(out)}: taking over the lock of pid {dead} on "
                     f"{socket.gethostname()}, which is no longer running"]


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    out = tmp_path / "s.csv"
    lock_path(out).write_text(json.dumps({"pid": 1, "host": "node-17", "started": "x"}))
    with pytest.raises(OutputLocked, match="in use by another run \\(pid 1 on host node-17"):
        with output_lock(out, print):
            pass
    assert lock_path(out).exists()


def test_score_refuses_an_output_another_run_holds(tmp_path, cls_committee):
    from .score_helpers import good_list
    from lensfind.score.runner import ScoreOptions, score_candidates
    lst = good_list(tmp_path / "l", 1)
    with output_lock(tmp_path / "s.csv", print):
        with pytest.raises(OutputLocked, match=f"s.csv is in use by another run \\(pid "
                                               f"{os.getpid()}"):
            score_candidates(lst, cls_committee, tmp_path / "s.csv",
                             options=ScoreOptions(progress=False))
    assert not (tmp_path / "s.csv.partial").exists()
