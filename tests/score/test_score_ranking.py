"""The final pass: ranks, the final file and its reports (lensfind.score.ranking)."""
from __future__ import annotations

import math
import types

import numpy as np

from lensfind.score.journal import Journal
from lensfind.score.ranking import finish, ranks
from lensfind.score.rows import RowFormat, ScoreRow


def test_ranks_are_one_for_the_highest_ties_keep_the_order_and_nan_gets_none():
    s = np.array([0.2, math.nan, 0.9, 0.2, 0.5, math.nan])
    assert ranks(s).tolist() == [3, 0, 1, 4, 2, 0]
    assert ranks(np.array([])).tolist() == []


class _NoImages:
    def image(self, row):
        raise OSError("gone")


def test_final_pass_writes_ranked_rows_and_the_grade_table(tmp_path):
    cands = types.SimpleNamespace(id_col=0, grade_col=1)
    final = RowFormat.for_list(["id", "grade"], ("p_lens", "p_lens_std", "p_lens_m",
                                                 "p_lens_std_m"), rank=True)
    out = tmp_path / "s.csv"
    journal = Journal.start(out, final.without_rank(), {}, chunk_size=4, batch_size=4, n_rows=5,
                            say=print)

    def row(i, grade, p, status="ok"):
        scores = {"p_lens": p, "p_lens_std": 0.1, "p_lens_m": p, "p_lens_std_m": 0.1}
        return ScoreRow({"id": f"c{i}", "grade": grade}, status, "",
                        scores if status == "ok" else {})
    with journal:
        journal.append([row(0, "A", 0.3), row(1, "B", 0.0, "unreadable"), row(2, "A", 0.7)])
        journal.append([row(3, "", 0.3), row(4, "A10", 0.9)])
    reports = finish(out, journal, final, cands, ["m"], _NoImages(), top=3)
    assert out.read_text() == (
        "id,grade,status,reason,rank,p_lens,p_lens_std,p_lens_m,p_lens_std_m\n"
        "c0,A,ok,,3,0.3,0.1,0.3,0.1\n"
        "c1,B,unreadable,,,,,,\n"
        "c2,A,ok,,2,0.7,0.1,0.7,0.1\n"
        "c3,,ok,,4,0.3,0.1,0.3,0.1\n"
        "c4,A10,ok,,1,0.9,0.1,0.9,0.1\n")
    assert "top-N grid" not in reports  # no cutout could be read again
    assert reports["grade table (CSV)"].read_text() == (
        "grade,n,not scored,m mean,m std\n(none),1,0,0.300,0.000\nA,2,0,0.500,0.283\n"
        "A10,1,0,0.900,0.000\nB,0,1,,\n")
    assert reports["grade table (Markdown)"].read_text().endswith(
        "| grade | n | not scored | m mean | m std |\n|---|---:|---:|---:|---:|\n"
        "| (none) | 1 | 0 | 0.300 | 0.000 |\n| A | 2 | 0 | 0.500 | 0.283 |\n"
        "| A10 | 1 | 0 | 0.900 | 0.000 |\n| B | 0 | 1 |  |  |\n")
