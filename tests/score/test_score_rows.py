"""The scores file's rows and their CSV cells (lensfind.score.rows)."""
from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest

from lensfind.score.rows import RowFormat, ScoreRow

SCORES = ("p_lens", "p_lens_std", "reg_theta_e")


def test_clashing_input_columns_are_renamed_and_rank_only_when_ranked():
    cols = ["Comment", "id", "STATUS", "path", "rank", "input_rank", "p_lens", "Reason"]
    ranked = RowFormat.for_list(cols, SCORES, rank=True)
    assert ranked.inputs == ("Comment", "id", "input_STATUS", "path", "input_rank",
                             "input_input_rank", "input_p_lens", "input_Reason")
    assert ranked.columns == (*ranked.inputs, "status", "reason", "rank", *SCORES)
    unranked = RowFormat.for_list(cols, SCORES, rank=False)
    assert unranked.inputs[4:6] == ("rank", "input_rank")  # no rank column to clash with
    assert "rank" not in unranked.columns[len(unranked.inputs):]
    journal = ranked.without_rank()
    assert journal.columns == tuple(c for c in ranked.columns if c != "rank")
    assert journal.header_text() == ",".join(journal.columns) + "\n"


def test_rows_go_to_cells_and_back_by_column_name():
    fmt = RowFormat.for_list(["id", "note"], SCORES, rank=True)
    row = ScoreRow(inputs={"id": "a", "note": 'say "hi",\nünïcode'}, status="ok",
                   reason="centre-cropped from 43x43", rank=3,
                   scores={"p_lens": np.float64(0.123456789), "p_lens_std": 1.5e-7,
                           "reg_theta_e": float("nan")})
    cells = fmt.cells(row)
    assert cells == ["a", 'say "hi",\nünïcode', "ok", "centre-cropped from 43x43", "3",
                     "0.123457", "1.5e-07", ""]
    text = fmt.text([row])
    assert next(csv.reader(io.StringIO(text))) == cells
    back = fmt.row(cells)
    assert back.inputs == row.inputs and back.rank == 3 and back.status == "ok"
    assert back.scores["p_lens"] == 0.123457 and math.isnan(back.scores["reg_theta_e"])
    assert fmt.cells(back) == cells
    bad = ScoreRow(inputs={"id": "b", "note": ""}, status="missing_file", reason="no such file",
                   scores={})
    assert fmt.cells(bad)[2:] == ["missing_file", "no such file", "", "", "", ""]
    assert fmt.row(fmt.cells(bad)).rank is None
    assert fmt.without_rank().cells(row)[4:] == ["0.123457", "1.5e-07", ""]


def test_malformed_rows_keep_their_input_cells_padded_or_cut():
    fmt = RowFormat.for_list(["id", "path", "grade"], SCORES, rank=False)
    assert fmt.inputs_of(("a", "b", "c", "surplus")) == {"id": "a", "path": "b", "grade": "c"}
    assert fmt.inputs_of(("a",)) == {"id": "a", "path": "", "grade": ""}


def test_written_scores_read_back_to_the_same_text():
    """The final pass re-writes the journal's scores from floats: the text must not change."""
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.uniform(0, 1, 3000), 10.0 ** rng.uniform(-12, 12, 3000),
                             -(10.0 ** rng.uniform(-8, 8, 1000)),
                             [0.0, -0.0, 1.0, 1e-5, 123456.5, 1234567.0, 0.1 + 0.2]])
    fmt = RowFormat(("id",), ("x",))
    for v in values:
        cells = fmt.cells(ScoreRow({"id": ""}, "ok", "", {"x": float(v)}))
        assert cells[-1] == format(float(v), ".6g")
        assert fmt.cells(fmt.row(cells)) == cells


def test_a_line_of_the_wrong_length_is_refused():
    fmt = RowFormat(("id",), ("p_lens",))
    with pytest.raises(ValueError, match=r"a scores row has 3 cells; expected 4 \(id, status, "
                                         r"reason, p_lens\)"):
        fmt.row(["a", "ok", ""])
