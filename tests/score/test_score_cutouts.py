"""Survey tiles: each row cut from the tile whose WCS holds it (lensfind.score.cutouts)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from .score_helpers import read_rows, write_fits, write_list
from lensfind.score.cutouts import read_tile_list
from lensfind.score.reader import CandidateListError
from lensfind.score.runner import ScoreOptions, score_candidates

QUIET = ScoreOptions(progress=False, chunk_size=4)


def _tile(path, crval, seed):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [100.5, 100.5]
    w.wcs.cdelt = [-0.2 / 3600, 0.2 / 3600]
    data = np.random.default_rng(seed).normal(10, 1, (200, 200)).astype(np.float32)
    fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
    return w, data


def test_rows_are_cut_from_the_tile_that_holds_them_and_the_rest_get_a_reason(
        tmp_path, cls_committee):
    w1, d1 = _tile(tmp_path / "t1.fits", [150.0, 2.0], 1)
    w2, d2 = _tile(tmp_path / "t2.fits", [150.0, 2.02], 2)  # 72" north: no overlap
    write_fits(tmp_path / "nowcs.fits", d1)
    in1 = w1.wcs_pix2world([[60.0, 70.0]], 0)[0]
    in2 = w2.wcs_pix2world([[120.0, 90.0]], 0)[0]
    edge = w2.wcs_pix2world([[195.0, 100.0]], 0)[0]
    lst = write_list(tmp_path / "sky.csv", ["id", "ra", "dec"], [
        ["one", *in1], ["two", *in2], ["nowhere", 10.0, -40.0], ["edge", *edge],
        ["antipode", 330.0, -2.0]])
    (tmp_path / "tiles.txt").write_text("# tiles\nt2.fits\nnowcs.fits\n")
    notes = []
    result = score_candidates(lst, cls_committee, tmp_path / "s.csv", image=tmp_path / "t1.fits",
                              tile_list=tmp_path / "tiles.txt", options=QUIET, say=notes.append)
    got = read_rows(result.out)
    assert [r["status"] for r in got] == ["ok", "ok", "off_image", "off_image", "off_image"]
    assert got[2]["reason"] == ("the position is outside every tile (2 searched: t1.fits, "
                                "t2.fits); 1 tile(s) without a celestial WCS were left out: "
                                "nowcs.fits")
    assert "sticks out" in got[3]["reason"]
    assert got[4]["reason"].startswith("the position is outside every tile")
    assert any("nowcs.fits: no 2-D image with a celestial WCS" in n and "left out" in n
               for n in notes)
    # the same cutouts cut from one tile each give the same scores
    for name, w, tile in (("one", w1, "t1.fits"), ("two", w2, "t2.fits")):
        row = next(r for r in got if r["id"] == name)
        alone = score_candidates(
            write_list(tmp_path / f"{name}.csv", ["id", "ra", "dec"],
                       [[name, row["ra"], row["dec"]]]),
            cls_committee, tmp_path / f"{name}_s.csv", image=tmp_path / tile, options=QUIET,
            say=lambda _: None)
        assert read_rows(alone.out)[0]["p_lens"] == row["p_lens"]


def test_tile_lists_and_tiles_without_any_wcs_are_refused(tmp_path, cls_committee):
    with pytest.raises(CandidateListError, match="no tile listed"):
        (tmp_path / "empty.txt").write_text("# nothing\n\n")
        read_tile_list(tmp_path / "empty.txt")
    (tmp_path / "l.txt").write_text("a.fits\n/abs/b.fits\n")
    assert read_tile_list(tmp_path / "l.txt") == [tmp_path / "a.fits", Path("/abs/b.fits")]
    write_fits(tmp_path / "nowcs.fits", np.zeros((50, 50), np.float32))
    lst = write_list(tmp_path / "sky.csv", ["id", "ra", "dec"], [["a", 1.0, 2.0]])
    with pytest.raises(CandidateListError, match="nowcs.fits: no 2-D image with a celestial WCS"):
        score_candidates(lst, cls_committee, tmp_path / "s.csv",
                         image=[tmp_path / "nowcs.fits", tmp_path / "nowcs.fits"], options=QUIET)
