"""The scores file in the format of its suffix (lensfind.score.outputs)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from astropy.table import Table

from .score_helpers import good_list, read_rows
from lensfind.score.outputs import check_output
from lensfind.score.runner import ScoreOptions, score_candidates
from lensfind.validation import ConfigError

QUIET = ScoreOptions(progress=False, chunk_size=4, top=0)


def _rows(path) -> list[dict]:
    """The rows of a table file, masked cells as None (parquet through pyarrow: astropy reads
    it only with pandas)."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq
        return pq.read_table(path).to_pylist()
    table = Table.read(path)  # astropy reads empty FITS strings back as masked
    return [{c: None if np.ma.is_masked(row[c]) else row[c] for c in table.colnames}
            for row in table]


def test_unknown_suffixes_are_refused_listing_the_formats(tmp_path):
    with pytest.raises(ConfigError, match=r"--out = '.*scores.txt' is invalid: expected a file "
                                          r"name ending in \.csv, \.fits, \.ecsv, \.parquet"):
        check_output(tmp_path / "scores.txt")
    assert check_output(tmp_path / "S.FITS") == ".fits"


@pytest.mark.parametrize("suffix", [".fits", ".ecsv", ".parquet"])
def test_table_outputs_hold_the_csv_rows_ranks_and_grades(tmp_path, cls_committee, suffix):
    lst = good_list(tmp_path / "l", 5)
    with open(lst, "a", encoding="utf-8") as fh:
        fh.write("bad,missing.fits,B,naïve\n")
    ref = read_rows(score_candidates(lst, cls_committee, tmp_path / "ref.csv", options=QUIET,
                                     say=lambda _: None).out)
    result = score_candidates(lst, cls_committee, tmp_path / f"s{suffix}", options=QUIET,
                              say=lambda _: None)
    got = _rows(result.out)
    assert list(got[0]) == list(ref[0])
    for row, want in zip(got, ref):
        for column, text in want.items():
            value = row[column]
            if value is None:
                assert text == ""
            elif column == "rank":
                assert str(value) == text
            elif column.startswith("p_lens"):
                assert (format(value, ".6g") if not math.isnan(value) else "") == text
            else:
                assert (value.decode() if isinstance(value, bytes) else str(value)) == text
    assert (tmp_path / "s.grades.csv").read_text() == (tmp_path / "ref.grades.csv").read_text()
