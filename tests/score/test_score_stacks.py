"""Cutout stacks: HDF5 datasets, FITS cubes, multi-extension FITS (lensfind.score.stacks)."""
from __future__ import annotations

import h5py
import numpy as np
import pytest
from astropy.io import fits

from .score_helpers import SIZE, blob, read_rows, write_fits, write_list
from lensfind.score.reader import CandidateListError, CutoutError
from lensfind.score.runner import ScoreOptions, score_candidates
from lensfind.score.stacks import check_shape, open_stack, parse_index

QUIET = ScoreOptions(progress=False, chunk_size=4)


def _images(n: int = 6) -> np.ndarray:
    return np.stack([blob(SIZE, i) for i in range(n)])


def _h5(path, images, name="images"):
    with h5py.File(path, "w") as fh:
        fh.create_dataset(name, data=images, chunks=(1,) + images.shape[1:])
        fh.create_dataset("labels", data=np.zeros(len(images), np.int8))
    return path


@pytest.mark.parametrize("kind", ["h5", "cube", "mef"])
def test_every_stack_format_reads_the_cutouts_asked_for_in_that_order(tmp_path, kind):
    images = _images()
    if kind == "h5":
        spec = _h5(tmp_path / "s.h5", images)
    elif kind == "cube":
        spec = write_fits(tmp_path / "s.fits", images)
    else:
        spec = tmp_path / "s.fits"
        fits.HDUList([fits.PrimaryHDU()] + [fits.ImageHDU(im) for im in images]).writeto(spec)
    stack = open_stack(spec)
    got = stack.read(np.array([5, 0, 1, 2, 0]))
    assert len(stack) == 6 and stack.shape == (SIZE, SIZE)
    for k, i in enumerate([5, 0, 1, 2, 0]):
        np.testing.assert_array_equal(got[k], images[i])
    stack.close()


def test_scaled_integer_cube_gives_physical_values_and_blank_is_nan(tmp_path):
    raw = np.arange(3 * SIZE * SIZE, dtype=np.int16).reshape(3, SIZE, SIZE)
    hdu = fits.PrimaryHDU(raw)
    hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.5, 10.0, 7
    hdu.writeto(tmp_path / "int.fits")
    stack = open_stack(tmp_path / "int.fits")
    one = stack.read(np.array([0]))[0]
    assert one[0, 1] == pytest.approx(10.5) and np.isnan(one[0, 7])
    stack.close()


def test_unusable_stacks_are_refused_naming_file_and_what_was_expected(tmp_path):
    images = _images(2)
    with pytest.raises(CandidateListError, match="no such file"):
        open_stack(tmp_path / "nope.h5")
    with pytest.raises(CandidateListError, match=r"unknown stack format; expected a file ending "
                                                 r"in \.h5, \.hdf5, \.fits"):
        open_stack(write_list(tmp_path / "x.csv", ["a"], [[1]]))
    with h5py.File(tmp_path / "two.h5", "w") as fh:
        fh["a"], fh["b"] = images, images
    with pytest.raises(CandidateListError, match="found 3-D datasets a, b; expected an N x H x W "
                                                 "dataset, named as two.h5:NAME"):
        open_stack(tmp_path / "two.h5")
    assert len(open_stack(f"{tmp_path / 'two.h5'}:b")) == 2
    stack = open_stack(_h5(tmp_path / "s.h5", images))
    check_shape(stack, (42, 38), 0.1)  # within the crop/pad tolerance
    with pytest.raises(CandidateListError, match="image is 40x40; the models need 64x64"):
        check_shape(stack, (64, 64), 0.1)


def test_indices_that_are_not_whole_or_past_the_end_name_the_value():
    assert parse_index(" 3 ", 4) == 3 and parse_index("2.0", 4) == 2
    for text in ("x", "", "-1", "1.5", "nan"):
        with pytest.raises(CutoutError, match=f"index = {text!r}: expected a whole number in "
                                              r"\[0, 3\]") as err:
            parse_index(text, 4)
        assert err.value.status == "bad_index"
    with pytest.raises(CutoutError, match="index = 4: past the end of the stack of 4 cutouts"
                       ) as err:
        parse_index("4", 4)
    assert err.value.status == "index_out_of_range"


def test_a_stack_scores_as_the_same_cutouts_as_files_and_bad_indices_get_a_status(
        tmp_path, cls_committee):
    images = _images(5)
    nan = images[3].copy()
    nan[0, 0] = np.nan
    images[3] = nan
    _h5(tmp_path / "set.h5", images)
    for i in range(5):
        write_fits(tmp_path / f"c{i}.fits", images[i])
    rows = [["a", 4, "A"], ["b", 0, "B"], ["c", 9, "A"], ["d", "x", "C"], ["e", 3, "B"],
            ["f", 1, "C"], ["a", 2, "A"]]
    cat = write_list(tmp_path / "cat.csv", ["id", "index", "grade"], rows)
    result = score_candidates(cat, cls_committee, tmp_path / "stack.csv",
                              stack=tmp_path / "set.h5", options=QUIET, say=lambda _: None)
    got = read_rows(result.out)
    assert [r["status"] for r in got] == ["ok", "ok", "index_out_of_range", "bad_index",
                                          "non_finite", "ok", "duplicate_id"]
    assert got[2]["reason"] == "index = 9: past the end of the stack of 5 cutouts (expected 0 " \
                               "to 4)"
    files = write_list(tmp_path / "files.csv", ["id", "path"],
                       [["a", "c4.fits"], ["b", "c0.fits"], ["f", "c1.fits"]])
    ref = {r["id"]: r["p_lens"] for r in read_rows(score_candidates(
        files, cls_committee, tmp_path / "files_scores.csv", options=QUIET,
        say=lambda _: None).out)}
    assert {r["id"]: r["p_lens"] for r in got if r["status"] == "ok"} == ref
    assert (tmp_path / "stack.grades.csv").exists() and (tmp_path / "stack.top.png").exists()


def test_a_stack_list_without_an_index_column_is_refused(tmp_path, cls_committee):
    _h5(tmp_path / "set.h5", _images(2))
    cat = write_list(tmp_path / "cat.csv", ["id", "row"], [["a", 0]])
    with pytest.raises(CandidateListError, match="missing required column"):
        score_candidates(cat, cls_committee, tmp_path / "s.csv", stack=tmp_path / "set.h5",
                         options=QUIET)
    out = score_candidates(cat, cls_committee, tmp_path / "s.csv", stack=tmp_path / "set.h5",
                           options=ScoreOptions(progress=False, index_column="row"),
                           say=lambda _: None)
    assert out.counts == {"ok": 1}
