"""Fixtures shared by several test folders.

`labelled`: a scores file in `lensfind score`'s layout and its truth file (evaluate, cli tests).
"""
from __future__ import annotations

import numpy as np
import pytest

from tests.labelled_files import SCORE_HEADER, TRUTH_HEADER, write_csv


@pytest.fixture
def labelled(tmp_path):
    """300 candidates, every other one a lens; lens scores rise with snr; row 5 (a non-lens)
    was not scored; regression errors of 0.05 with sigma 0.05 (calibrated)."""
    rng = np.random.default_rng(0)
    n = 300
    label = (np.arange(n) % 2 == 0).astype(int)
    snr = rng.uniform(5, 100, n)
    logit = np.where(label == 1, (snr - 30) / 8, -2.0) + rng.normal(0, 1.0, n)
    p = 1 / (1 + np.exp(-logit))
    theta = rng.uniform(0.5, 1.5, n)
    e1 = rng.normal(0, 0.1, n)
    scores, truth = [], []
    for i in range(n):
        ok = i != 5
        scores.append([f"c{i}", f"c{i}.fits", "ok" if ok else "missing_file",
                       "" if ok else "no such file", i + 1, f"{p[i]:.6g}" if ok else "", "0.01",
                       theta[i] + rng.normal(0, 0.05), 0.05, e1[i] + rng.normal(0, 0.05), 0.05,
                       0.0025, 0.0, 0.0025])
        lens = label[i] == 1
        truth.append([f"c{i}", label[i], "lens" if lens else ("ring" if i % 4 == 1 else "spiral"),
                      snr[i], theta[i] if lens else "", e1[i] if lens else "",
                      "arc" if lens else ""])
    return {"scores": write_csv(tmp_path / "scores.csv", SCORE_HEADER, scores),
            "truth": write_csv(tmp_path / "truth.csv", TRUTH_HEADER, truth),
            "label": label, "p": p, "snr": snr, "tmp": tmp_path,
            "score_rows": scores, "truth_rows": truth}
