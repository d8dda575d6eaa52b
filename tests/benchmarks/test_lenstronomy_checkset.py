"""benchmarks/lenstronomy_checkset.py: a tiny set loads through `lensfind score`'s reader, is
scored by real (untrained) runs and evaluated against its truth."""
from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("lenstronomy")

from lensfind.evaluate.report import evaluate_scores  # noqa: E402
from lensfind.score.reader import load_cutout, scan_candidates  # noqa: E402
from lensfind.score.runner import ScoreOptions, score_candidates  # noqa: E402
from tests.benchmarks.scripts import load_script  # noqa: E402
from tests.score.score_helpers import SIZE, make_run  # noqa: E402


def _script():
    return load_script("lenstronomy_checkset")


def test_checkset_scores_and_evaluates(tmp_path):
    checkset = _script()
    candidates, truth = checkset.write_checkset(tmp_path / "set", 12, seed=1, size=SIZE)
    scan_candidates(candidates)
    with open(truth, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["kind"] for r in rows].count("lens") == 6
    assert {r["kind"] for r in rows} == {"lens", "lens_galaxy", "neighbour"}
    for r in rows:
        image, _ = load_cutout(candidates.parent, f"cutouts/{r['id']}.fits", (SIZE, SIZE))
        assert image.shape == (SIZE, SIZE) and np.isfinite(image).all()
        if r["label"] == "1":
            assert float(r["magnification"]) > 0 and float(r["snr"]) > 0
            assert r["morphology"] in ("ring", "quad", "double", "single")
        else:
            assert r["theta_e"] == "" and r["morphology"] == ""
    runs = [make_run(tmp_path / "runs", "cls"),
            make_run(tmp_path / "runs", "reg", task="regress", head="mvn_full")]
    scores = tmp_path / "scores.csv"
    score_candidates(candidates, runs, scores, options=ScoreOptions(progress=False, top=0))
    result = evaluate_scores(scores, truth, tmp_path / "ev", bins={"snr": None})
    assert result.finding["n_lenses"] == 6 and result.finding["n_nonlenses"] == 6
    assert result.members["reg"]["n_images"] == 6
    for name in ("morphology.csv", "kind.csv", "reg_pred_vs_true.png"):
        assert (tmp_path / "ev" / name).exists(), name
