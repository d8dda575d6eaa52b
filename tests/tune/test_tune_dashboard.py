"""``lensfind dashboard``: a real optuna-dashboard server on 127.0.0.1, queried over HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from lensfind.tune.run import tune

pytestmark = pytest.mark.slow


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read().decode())


def _read_url(proc, timeout=60.0) -> str:
    """The http:// line the command prints once it listens."""
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        if line.strip().startswith("http://"):
            return line.strip()
    raise AssertionError(f"no URL printed; output: {''.join(lines)!r}; "
                         f"stderr: {proc.stderr.read() if proc.poll() is not None else ''}")


def test_dashboard_serves_the_study_and_its_trials(tmp_path, make_exp):
    exp = make_exp("dash", startup_trials=2)
    summary = tune(exp, n_trials=4, runs_dir=tmp_path, objective="synthetic", report=False)
    assert summary["counts"]["complete"] == 4
    db = tmp_path / "dash" / "tune" / "study.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lensfind.cli", "dashboard", "--storage", f"sqlite:///{db}",
         "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        url = _read_url(proc)
        assert url.startswith("http://127.0.0.1:") and url.endswith("/dashboard")
        base = url.removesuffix("/dashboard")
        studies = _get(f"{base}/api/studies")["study_summaries"]
        assert [s["study_name"] for s in studies] == ["dash"]
        study_id = studies[0]["study_id"]
        detail = _get(f"{base}/api/studies/{study_id}")
        assert detail["name"] == "dash"
        assert detail["directions"] == ["maximize"]
        assert detail["objective_names"] == ["auc"]
        trials = detail["trials"]
        assert [t["number"] for t in trials] == [0, 1, 2, 3]
        assert all(t["state"] == "Complete" for t in trials)
        params = {p["name"] for p in trials[0]["params"]}
        assert params == {"model.pool_dropout", "model.dense_dropout"}
        best = detail["best_trials"][0]
        assert best["values"][0] == pytest.approx(summary["best"][0]["values"]["auc"])
        with urllib.request.urlopen(url, timeout=10) as page:  # the web page itself
            assert page.status == 200 and b"<html" in page.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        proc.stdout.close()
        proc.stderr.close()


def test_dashboard_refuses_a_missing_database_and_a_public_address(tmp_path):
    from lensfind.cli import main
    assert main(["dashboard", "--storage", f"sqlite:///{tmp_path}/none.db", "--port", "0"]) == 2
    assert main(["dashboard", "--storage", f"sqlite:///{tmp_path}/none.db",
                 "--host", "0.0.0.0"]) == 2
