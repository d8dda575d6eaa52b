"""Candidate lists and cutout files: refusals of whole lists, statuses of single rows."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from .score_helpers import bad_files, blob, write_fits, write_list
from lensfind.score.reader import (
    CandidateListError, CutoutError, conform, load_cutout, row_problem,
    scan_candidates)

SHAPE = (40, 40)


# ------------------------------------------------------------------------- whole-list refusals

@pytest.mark.parametrize("content, message", [
    (b"", "is empty"),
    (b"\n\n", "is empty"),
    (b"id,path\n", "no candidate rows"),
    (b"name,file\na,b.fits\n", "missing required column(s) id, path; found name, file"),
    (b"id,path,ID\na,b,c\n", "appear more than once"),
    (b"id,path\na,b.fits\n\xff\xfe,c.fits\n", "line 3: not UTF-8"),
    (b"\x00\x01SIMPLE  =                    T", "binary file"),
])
def test_unusable_lists_are_refused_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    with pytest.raises(CandidateListError) as err:
        scan_candidates(path)
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_list_and_survey_columns_are_refused(tmp_path):
    with pytest.raises(CandidateListError, match="no such candidate list"):
        scan_candidates(tmp_path / "nope.csv")
    path = write_list(tmp_path / "l.csv", ["id", "path"], [["a", "a.fits"]])
    with pytest.raises(CandidateListError, match="missing required column.*ra, dec"):
        scan_candidates(path, need_path=False, need_radec=True)


def test_scan_counts_rows_finds_repeats_and_keeps_bom_and_case(tmp_path):
    path = tmp_path / "l.csv"
    path.write_text("\ufeffID,Path,Grade\na,1.fits,A\n\nb,2.fits,B\na,3.fits,C\nc,4.fits\n"
                    ",5.fits,A\nb,6.fits,B\n", encoding="utf-8")
    cands = scan_candidates(path)
    assert cands.columns == ["ID", "Path", "Grade"]
    assert (cands.id_col, cands.path_col, cands.grade_col) == (0, 1, 2)
    assert cands.n_rows == 6  # the blank line is not a row
    assert cands.duplicates == {2: 0, 5: 1}
    rows = list(cands.rows())
    problems = [row_problem(cands, r) for r in rows]
    assert [p.status if p else "ok" for p in problems] == [
        "ok", "ok", "duplicate_id", "malformed_row", "empty_id", "duplicate_id"]
    assert "line 2" in problems[2].reason  # where 'a' first appeared
    assert "2 cells on line 6" in problems[3].reason
    # chunks restart exactly where asked (resume)
    chunks = list(cands.chunks(3, start=2))
    assert [[r.index for r in c] for c in chunks] == [[2, 3, 4], [5]]


# ------------------------------------------------------------------------------ cutout files

@pytest.mark.filterwarnings("ignore")
def test_every_kind_of_bad_file_gets_its_status_and_reason(tmp_path):
    for name, (rel, status, text) in bad_files(tmp_path).items():
        with pytest.raises(CutoutError) as err:
            load_cutout(tmp_path, rel, SHAPE)
        assert (err.value.status, text in err.value.reason) == (status, True), \
            f"{name}: {err.value.status}: {err.value.reason}"


def test_good_variants_load(tmp_path):
    from astropy.io import fits
    img = blob(40, 4)
    write_fits(tmp_path / "a.fits", img)
    with gzip.open(tmp_path / "b.fits.gz", "wb") as fh:
        fh.write((tmp_path / "a.fits").read_bytes())
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(img)]).writeto(tmp_path / "ext.fits")
    np.save(tmp_path / "a.npy", img.astype(np.float64))
    hdu = fits.PrimaryHDU(np.round(img).astype(np.int16))
    hdu.header["BLANK"] = -32768
    hdu.writeto(tmp_path / "blank.fits")
    for rel in ("a.fits", "b.fits.gz", "ext.fits", "a.npy", str(tmp_path / "a.fits")):
        out, note = load_cutout(tmp_path, rel, SHAPE)
        np.testing.assert_array_equal(out, img)
        assert note == ""
    out, _ = load_cutout(tmp_path, "blank.fits", SHAPE)
    np.testing.assert_array_equal(out, np.round(img))


def test_near_misses_are_centre_cropped_or_padded_by_the_documented_rule():
    rng = np.random.default_rng(0)
    big = rng.normal(size=(44, 43)).astype(np.float32)
    out, note = conform(big, SHAPE)
    np.testing.assert_array_equal(out, big[2:42, 1:41])
    assert note == "centre-cropped from 44x43 to 40x40"
    small = rng.normal(size=(37, 40)).astype(np.float32) + 7.0
    out, note = conform(small, SHAPE)
    assert out.shape == SHAPE and "padded with the border median" in note
    np.testing.assert_array_equal(out[1:38], small)
    ring = np.concatenate([small[0], small[-1], small[1:-1, 0], small[1:-1, -1]])
    assert np.all(out[0] == np.float32(np.median(ring)))
    assert np.all(out[38:] == np.float32(np.median(ring)))
    # 10 % of 40 is 4 pixels: 45 is refused, 36 accepted
    with pytest.raises(CutoutError, match="wrong_shape"):
        conform(np.zeros((45, 40), np.float32), SHAPE)
    assert conform(np.ones((36, 40), np.float32), SHAPE)[0].shape == SHAPE
    # NaN only in the cropped margin does not matter
    edge = np.ones((42, 40), np.float32)
    edge[0, 0] = np.nan
    assert np.isfinite(conform(edge, SHAPE)[0]).all()


# ------------------------------------------------------------------------- table catalogues

@pytest.mark.parametrize("fmt, name", [("fits", "cat.fits"), ("ascii.ecsv", "cat.ecsv")])
def test_fits_and_ecsv_catalogues_read_as_the_same_text_cells_as_csv(tmp_path, fmt, name):
    from astropy.table import MaskedColumn, Table
    table = Table({"id": ["a", "b", "a"], "ra": [150.1, 150.25, 1e-7],
                   "flux": np.array([150.1, np.nan, 2.5], np.float32),
                   "index": np.array([3, 0, 7], np.int64),
                   "grade": MaskedColumn(["A", "x", "C"], mask=[False, True, False])})
    table.write(tmp_path / name, format=fmt)
    cands = scan_candidates(tmp_path / name, need_path=False, index_column="index")
    assert cands.columns == ["id", "ra", "flux", "index", "grade"]
    assert [r.cells for r in cands.rows()] == [("a", "150.1", "150.1", "3", "A"),
                                                ("b", "150.25", "", "0", ""),
                                                ("a", "1e-07", "2.5", "7", "C")]
    assert cands.index_col == 3 and cands.duplicates == {2: 0}
    problem = row_problem(cands, list(cands.rows())[2])
    assert problem.reason == "id 'a' already appeared on row 1 (only the first is scored)"
    assert [r.index for r in cands.rows(1, 2)] == [1]


def test_a_table_that_is_not_one_is_refused_naming_the_file(tmp_path):
    (tmp_path / "cat.fits").write_bytes(b"SIMPLE  = nonsense" * 10)
    with pytest.raises(CandidateListError, match="cat.fits: not a readable fits table"):
        scan_candidates(tmp_path / "cat.fits")
