"""The grade table and the top-N grid (lensfind.score.report)."""
from __future__ import annotations

from lensfind.score.report import grade_markdown


def test_grade_markdown_has_its_caption_and_right_aligned_numbers():
    assert grade_markdown(["grade", "n"], [["A", "3"]]) == (
        "Predicted lens probability per grade: mean and standard deviation over the candidates "
        "of each grade (cf. thesis Table 5-2).\n\n| grade | n |\n|---|---:|\n| A | 3 |\n")
