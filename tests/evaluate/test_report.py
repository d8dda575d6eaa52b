"""`evaluate_scores` end to end on a labelled set: files, numbers equal to the CV's code."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from lensfind.evaluate.labelled import TruthError
from lensfind.evaluate.metrics import roc_auc
from lensfind.evaluate.report import evaluate_scores, parse_bins
from tests.labelled_files import SCORE_HEADER, TRUTH_HEADER, write_csv


def test_evaluate_writes_tables_plots_and_the_cv_numbers(labelled):
    result = evaluate_scores(labelled["scores"], labelled["truth"], labelled["tmp"] / "ev",
                             bins=parse_bins(["snr=0,30,100"]))
    out = result.out
    keep = np.arange(300) != 5
    assert result.finding["roc_auc"] == pytest.approx(roc_auc(labelled["label"][keep],
                                                              np.round(labelled["p"][keep], 6)),
                                                      abs=1e-6)
    for name in ("finding.csv", "finding.md", "recall_snr.csv", "kind.csv", "morphology.csv",
                 "not_scored.csv", "roc.png", "recall_bins.png", "m_table1.csv",
                 "m_coverage.md", "m_pred_vs_true.png", "m_calibration.png", "m_chi2.png",
                 "evaluate.md", "evaluate.json"):
        assert (out / name).stat().st_size > 0, name
    with open(out / "recall_snr.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["lenses"]) for r in rows] == [int(np.sum((labelled["label"] == 1)
                                                           & (labelled["snr"] < 30))),
                                               int(np.sum((labelled["label"] == 1)
                                                          & (labelled["snr"] >= 30)))]
    assert float(rows[0]["recall (p >= 0.5)"]) < float(rows[1]["recall (p >= 0.5)"])
    summary = json.loads((out / "evaluate.json").read_text())
    m = summary["parameters"]["m"]
    assert m["n_images"] == 150
    assert 0.03 < m["theta_e"]["error68"] < 0.07          # errors drawn with sigma 0.05
    assert 0.6 < m["theta_e"]["coverage_1sigma"] < 0.77
    assert summary["not_scored"] == [["c5", "missing_file", "no such file"]]
    assert "c5" in (out / "evaluate.md").read_text()


def test_a_set_without_non_lenses_is_refused(labelled):
    rows = [r for r in labelled["truth_rows"] if r[1] == 1]
    truth = write_csv(labelled["tmp"] / "t.csv", TRUTH_HEADER, rows)
    lenses = [r for r in labelled["score_rows"] if int(r[0][1:]) % 2 == 0]
    scores = write_csv(labelled["tmp"] / "s.csv", SCORE_HEADER, lenses)
    with pytest.raises(TruthError, match=r"t\.csv, column 'label': no non-lenses"):
        evaluate_scores(scores, truth, labelled["tmp"] / "ev")


def test_bin_column_must_exist_and_edges_must_be_numbers(labelled):
    with pytest.raises(TruthError, match="--bin arc_snr: .* has no column 'arc_snr'"):
        evaluate_scores(labelled["scores"], labelled["truth"], labelled["tmp"] / "ev",
                        bins={"arc_snr": None})
    with pytest.raises(TruthError, match="COLUMN=E0,E1"):
        parse_bins(["snr=a,b"])
