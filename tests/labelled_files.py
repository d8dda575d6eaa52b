"""A labelled set on disk for evaluate tests: a scores file in `lensfind score`'s layout and a
truth file (the `labelled` fixture of tests/conftest.py is built from these)."""
from __future__ import annotations

import csv

SCORE_HEADER = ["id", "path", "status", "reason", "rank", "p_lens", "p_lens_std", "m_theta_e",
                "m_theta_e_sigma", "m_e1", "m_e1_sigma", "m_cov_theta_e_theta_e",
                "m_cov_theta_e_e1", "m_cov_e1_e1"]
TRUTH_HEADER = ["id", "label", "kind", "snr", "theta_e", "e1", "morphology"]


def write_csv(path, header, rows):
    """Write ``rows`` under ``header`` to ``path``; returns ``path``."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
