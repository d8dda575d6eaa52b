"""Joining scores and truth by id: what is refused, and how, and what is listed."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.evaluate.labelled import TruthError, join, parse_columns
from tests.labelled_files import SCORE_HEADER, TRUTH_HEADER, write_csv


def test_join_keeps_scored_rows_and_lists_the_others(labelled):
    data = join(labelled["scores"], labelled["truth"])
    assert len(data) == 299 and "c5" not in set(data.ids)
    assert data.not_scored == [("c5", "missing_file", "no such file")]
    np.testing.assert_array_equal(data.labels(), np.delete(labelled["label"], 5))
    assert np.isnan(data.numbers("theta_e")[data.labels() == 0]).all()


def test_truth_id_missing_from_the_scores_is_refused_naming_the_line(labelled):
    rows = labelled["truth_rows"] + [["extra", 1, "lens", 10, 1, 0, "arc"]]
    truth = write_csv(labelled["tmp"] / "t.csv", TRUTH_HEADER, rows)
    with pytest.raises(TruthError, match=r"t\.csv, line 302: id 'extra' is not in the scores"):
        join(labelled["scores"], truth)


def test_scored_id_missing_from_the_truth_is_refused(labelled):
    truth = write_csv(labelled["tmp"] / "t.csv", TRUTH_HEADER, labelled["truth_rows"][1:])
    with pytest.raises(TruthError, match=r"scores\.csv, line 2, column 'id': id 'c0' is not in "
                                         r"the truth"):
        join(labelled["scores"], truth)


def test_bad_cells_are_refused_naming_file_column_and_line(labelled):
    rows = [list(r) for r in labelled["truth_rows"]]
    rows[3][1] = "maybe"
    rows[4][3] = "bright"
    truth = write_csv(labelled["tmp"] / "t.csv", TRUTH_HEADER, rows)
    data = join(labelled["scores"], truth)
    with pytest.raises(TruthError, match=r"t\.csv, line 5, column 'label': 'maybe' is not a "
                                         r"label \(expected 1 or 0"):
        data.labels()
    with pytest.raises(TruthError, match=r"t\.csv, line 6, column 'snr': 'bright' is not a "
                                         r"number"):
        data.numbers("snr")


def test_repeated_truth_id_and_unknown_mapped_column_are_refused(labelled):
    rows = labelled["truth_rows"] + [labelled["truth_rows"][0]]
    truth = write_csv(labelled["tmp"] / "t.csv", TRUTH_HEADER, rows)
    with pytest.raises(TruthError, match=r"line 302, column 'id': id 'c0' repeats line 2"):
        join(labelled["scores"], truth)
    with pytest.raises(TruthError, match=r"--column label=is_lens: .* has no column 'is_lens'"):
        join(labelled["scores"], labelled["truth"], columns={"label": "is_lens"})


def test_column_map_renames_truth_columns(labelled):
    header = ["name", "is_lens"] + TRUTH_HEADER[2:]
    truth = write_csv(labelled["tmp"] / "t.csv", header, labelled["truth_rows"])
    data = join(labelled["scores"], truth, columns=parse_columns(["id=name", "label=is_lens"]))
    assert data.labels().sum() == 150
    with pytest.raises(TruthError, match="expected NAME=TRUTH_COLUMN"):
        parse_columns(["label"])


def test_ragged_scores_file_is_refused(labelled):
    scores = write_csv(labelled["tmp"] / "s.csv", SCORE_HEADER, [["c0", "x"]])
    with pytest.raises(TruthError, match=r"s\.csv, line 2: 2 cells; expected 14"):
        join(scores, labelled["truth"])


@pytest.mark.parametrize("suffix", [".ecsv", ".fits"])
def test_table_formats_join_like_the_csv(labelled, suffix):
    """Scores and truth as astropy tables (masked empty cells) give the CSV's labelled set."""
    from astropy.table import Table as AstropyTable

    def as_table(path, name):
        table = AstropyTable.read(path, format="ascii.csv")
        out = labelled["tmp"] / f"{name}{suffix}"
        table.write(out, overwrite=True)
        return out

    csv_set = join(labelled["scores"], labelled["truth"])
    table_set = join(as_table(labelled["scores"], "scores"), as_table(labelled["truth"], "truth"))
    assert list(table_set.ids) == list(csv_set.ids)
    assert table_set.not_scored == csv_set.not_scored
    np.testing.assert_array_equal(table_set.labels(), csv_set.labels())
    np.testing.assert_allclose(table_set.numbers("theta_e"), csv_set.numbers("theta_e"),
                               rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(table_set.scores["p_lens"], csv_set.scores["p_lens"], rtol=1e-12)


def test_a_table_row_is_named_by_its_number(labelled):
    from astropy.table import Table as AstropyTable

    truth = AstropyTable.read(labelled["truth"], format="ascii.csv")
    truth["label"] = truth["label"].astype(str)
    truth["label"][3] = "maybe"
    path = labelled["tmp"] / "truth.ecsv"
    truth.write(path)
    data = join(labelled["scores"], path)
    with pytest.raises(TruthError, match=r"truth\.ecsv, row 4, column 'label': 'maybe' is not"):
        data.labels()
