"""Multi-band scoring: cubes, a file per band, tiles per band and stacks (lensfind.score.bands)."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

from .score_helpers import SIZE, blob, read_rows, write_fits, write_list
from lensfind.score.committee import Committee, ModelDirError, load_member
from lensfind.score.reader import CandidateListError
from lensfind.score.runner import ScoreOptions, score_candidates

QUIET = ScoreOptions(progress=False, chunk_size=4, workers=2, top=4)
BANDS = ("g", "r", "i")


def _cube(seed: int, size: int = SIZE) -> np.ndarray:
    """(C, H, W): three different bands of one blob."""
    return np.stack([blob(size, seed, amp) for amp in (20.0, 40.0, 80.0)])


def _export_cube(path, cube, bands=BANDS):
    """A cube as lensfind.data.fits.export_fits writes it (BANDS and BAND<k> cards)."""
    header = fits.Header()
    header["BANDS"] = ",".join(bands)
    for k, band in enumerate(bands, start=1):
        header[f"BAND{k}"] = band
    return write_fits(path, cube, header=header)


def _by_id(rows):
    return {r["id"]: r for r in rows}


def test_a_cube_list_is_scored_and_bad_cubes_are_flagged(tmp_path, gri_committee):
    cube = _cube(1)
    _export_cube(tmp_path / "export.fits", cube)
    write_fits(tmp_path / "plain.fits", cube)  # no BANDS: the models' order
    order = [2, 0, 1]  # one image HDU per band, FILTER cards, shuffled
    fits.HDUList([fits.PrimaryHDU()] + [
        fits.ImageHDU(cube[k], header=fits.Header([("FILTER", BANDS[k])])) for k in order
    ]).writeto(tmp_path / "mef.fits")
    np.save(tmp_path / "cube.npy", cube)
    write_fits(tmp_path / "two.fits", cube[:2])
    _export_cube(tmp_path / "griz.fits", np.concatenate([cube, cube[:1]]), ("g", "r", "i", "z"))
    _export_cube(tmp_path / "grz.fits", cube, ("g", "r", "z"))
    write_fits(tmp_path / "flat.fits", cube[0])
    nan = cube.copy()
    nan[2, 3, 3] = np.nan
    write_fits(tmp_path / "nan.fits", nan)
    names = ["export", "plain", "mef", "cube.npy", "two", "griz", "grz", "flat", "nan",
             "missing"]
    lst = write_list(tmp_path / "cubes.csv", ["id", "path"],
                     [[n, n if n.endswith(".npy") else f"{n}.fits"] for n in names])
    result = score_candidates(lst, gri_committee, tmp_path / "s.csv", options=QUIET)
    got = _by_id(read_rows(result.out))
    for name in ("export", "plain", "mef", "cube.npy"):
        assert got[name]["status"] == "ok", got[name]
        assert got[name]["p_lens"] == got["export"]["p_lens"]  # the same bands, same order
    expected = {
        "two": ("wrong_bands", "two.fits: a cube of 2 planes (HDU 0 2x40x40, no BANDS card); "
                "the models take the bands [g, r, i]"),
        "griz": ("wrong_bands", "griz.fits: BANDS = [g, r, i, z]; the models take"),
        "grz": ("wrong_bands", "grz.fits: BANDS = [g, r, z]; the models take the bands "
                "[g, r, i]"),
        "flat": ("wrong_bands", "flat.fits: found HDU 0 40x40"),
        "nan": ("non_finite", "band i: 1 NaN and 0 infinite"),
        "missing": ("missing_file", "path = 'missing.fits': no such file"),
    }
    for name, (status, reason) in expected.items():
        assert got[name]["status"] == status, got[name]
        assert reason in got[name]["reason"], got[name]["reason"]
    assert result.counts["ok"] == 4
    assert result.reports["top-N grid"].is_file()


def test_a_list_with_a_file_per_band_is_scored_like_the_cube(tmp_path, gri_committee):
    cube = _cube(2)
    _export_cube(tmp_path / "cube.fits", cube)
    for k, band in enumerate(BANDS):
        write_fits(tmp_path / f"a_{band}.fits", cube[k])
    write_fits(tmp_path / "small_r.fits", cube[1][1:-1, 1:-1])
    header = ["id", "path_g", "path_r", "path_i", "comment"]
    lst = write_list(tmp_path / "bands.csv", header, [
        ["good", "a_g.fits", "a_r.fits", "a_i.fits", "x"],
        ["no_i", "a_g.fits", "a_r.fits", "nope_i.fits", "y"],
        ["empty_r", "a_g.fits", " ", "a_i.fits", "z"],
        ["sizes", "a_g.fits", "small_r.fits", "a_i.fits", "w"]])
    got = _by_id(read_rows(score_candidates(lst, gri_committee, tmp_path / "s.csv",
                                            options=QUIET).out))
    assert got["good"]["status"] == "ok"
    assert got["good"]["comment"] == "x"
    assert got["no_i"]["status"] == "missing_file"
    assert got["no_i"]["reason"].startswith("path_i = 'nope_i.fits': no such file")
    assert (got["empty_r"]["status"], got["empty_r"]["reason"]) == (
        "empty_path", "path_r = '': the path cell is empty")
    assert got["sizes"]["status"] == "band_sizes"
    assert got["sizes"]["reason"] == ("the bands differ in size: g 40x40 (path_g); r 38x38 "
                                      "(path_r); i 40x40 (path_i); expected one size for all "
                                      "bands")
    cube_list = write_list(tmp_path / "cube.csv", ["id", "path"], [["good", "cube.fits"]])
    alone = read_rows(score_candidates(cube_list, gri_committee, tmp_path / "c.csv",
                                       options=QUIET).out)
    assert alone[0]["p_lens"] == got["good"]["p_lens"]


def _band_tile(path, crval, seed, scale=0.2, crpix=100.5):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = crval
    w.wcs.crpix = [crpix, crpix]
    w.wcs.cdelt = [-scale / 3600, scale / 3600]
    data = np.random.default_rng(seed).normal(10, 1, (200, 200)).astype(np.float32)
    fits.PrimaryHDU(data, header=w.to_header()).writeto(path)
    return w, data


def test_tiles_per_band_are_cut_each_with_its_own_wcs(tmp_path, gri_committee):
    tiles = {}
    for k, band in enumerate(BANDS):
        # the i tile is shifted by 60 pixels: its WCS puts the same sky elsewhere
        tiles[band] = _band_tile(tmp_path / f"t_{band}.fits", [150.0, 2.0], k,
                                 crpix=160.5 if band == "i" else 100.5)
    w_g = tiles["g"][0]
    centre = w_g.wcs_pix2world([[100.3, 100.3]], 0)[0]
    west = w_g.wcs_pix2world([[175.0, 100.0]], 0)[0]  # on g and r; past the edge of i
    lst = write_list(tmp_path / "sky.csv", ["id", "ra", "dec"], [
        ["centre", *centre], ["west", *west], ["bad", "x", 2.0]])
    specs = [f"{b}={tmp_path / f't_{b}.fits'}" for b in BANDS]
    result = score_candidates(lst, gri_committee, tmp_path / "s.csv", image=specs,
                              options=QUIET)
    got = _by_id(read_rows(result.out))
    assert got["centre"]["status"] == "ok"
    assert got["west"]["status"] == "off_image"
    assert got["west"]["reason"] == (f"band i, tile {tmp_path / 't_i.fits'}: pixel (x=235.0, "
                                     "y=160.0) is outside the 200x200 image")
    assert got["bad"]["status"] == "bad_coordinates"
    # the centre row is the cube of each band's own pixels
    cube = np.stack([tiles["g"][1][81:121, 81:121], tiles["r"][1][81:121, 81:121],
                     tiles["i"][1][141:181, 141:181]])
    write_fits(tmp_path / "centre.fits", cube)
    alone = read_rows(score_candidates(
        write_list(tmp_path / "c.csv", ["id", "path"], [["centre", "centre.fits"]]),
        gri_committee, tmp_path / "c_s.csv", options=QUIET).out)
    assert alone[0]["p_lens"] == got["centre"]["p_lens"]
    # the same tiles from a tile list with BAND=PATH lines
    (tmp_path / "tiles.txt").write_text("".join(f"{b}=t_{b}.fits\n" for b in BANDS))
    listed = _by_id(read_rows(score_candidates(lst, gri_committee, tmp_path / "l.csv",
                                               tile_list=tmp_path / "tiles.txt",
                                               options=QUIET).out))
    assert listed["centre"]["p_lens"] == got["centre"]["p_lens"]


def test_whole_job_band_mismatches_are_refused_before_any_work(tmp_path, gri_committee):
    for k, band in enumerate(BANDS):
        _band_tile(tmp_path / f"t_{band}.fits", [150.0, 2.0], k)
    _band_tile(tmp_path / "coarse.fits", [150.0, 2.0], 5, scale=0.26)
    sky = write_list(tmp_path / "sky.csv", ["id", "ra", "dec"], [["a", 150.0, 2.0]])
    out = tmp_path / "s.csv"
    with pytest.raises(CandidateListError, match=r"tiles were given for the bands \[g, r\]; "
                       r"the models take \[g, r, i\]; add --image i=TILE.fits"):
        score_candidates(sky, gri_committee, out, options=QUIET,
                         image=[f"g={tmp_path / 't_g.fits'}", f"r={tmp_path / 't_r.fits'}"])
    with pytest.raises(CandidateListError, match=r"--image 'z=.*': expected BAND=TILE.fits "
                       r"with BAND one of the models' bands \[g, r, i\]"):
        score_candidates(sky, gri_committee, out, options=QUIET,
                         image=[f"{b}={tmp_path / f't_{b}.fits'}" for b in "griz"])
    with pytest.raises(CandidateListError, match=r"pixel scales differ .*i coarse.fits: 0.26"):
        score_candidates(sky, gri_committee, out, options=QUIET,
                         image=[f"g={tmp_path / 't_g.fits'}", f"r={tmp_path / 't_r.fits'}",
                                f"i={tmp_path / 'coarse.fits'}"])
    with pytest.raises(CandidateListError, match=r"missing required column\(s\) path; .* or one "
                       r"file column per band \(path_g, path_r, path_i\)"):
        score_candidates(write_list(tmp_path / "l.csv", ["id", "path_g", "path_r"],
                                    [["a", "x", "y"]]), gri_committee, out, options=QUIET)
    assert not out.exists()


def _h5(path, images, bands):
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images)
        if bands is not None:
            f.attrs["bands"] = json.dumps(list(bands))
    return path


def test_a_multi_band_hdf5_stack_is_scored_and_other_bands_are_refused(tmp_path,
                                                                       gri_committee):
    cubes = np.stack([np.moveaxis(_cube(s), 0, -1) for s in range(3)])  # (N, H, W, C)
    lst = write_list(tmp_path / "idx.csv", ["id", "index"], [["a", 0], ["b", 2], ["c", 3]])
    got = read_rows(score_candidates(lst, gri_committee, tmp_path / "s.csv", options=QUIET,
                                     stack=_h5(tmp_path / "set.h5", cubes, BANDS)).out)
    assert [r["status"] for r in got] == ["ok", "ok", "index_out_of_range"]
    _export_cube(tmp_path / "c2.fits", _cube(2))
    alone = read_rows(score_candidates(
        write_list(tmp_path / "c.csv", ["id", "path"], [["b", "c2.fits"]]), gri_committee,
        tmp_path / "c_s.csv", options=QUIET).out)
    assert alone[0]["p_lens"] == got[1]["p_lens"]
    with pytest.raises(CandidateListError, match=r"the stack's bands \['g', 'r', 'z'\] \(3 "
                       r"channels\) differ from the models' bands \['g', 'r', 'i'\]"):
        score_candidates(lst, gri_committee, tmp_path / "x.csv", options=QUIET,
                         stack=_h5(tmp_path / "grz.h5", cubes, ("g", "r", "z")))
    with pytest.raises(CandidateListError, match="no single 4-D one"):
        score_candidates(lst, gri_committee, tmp_path / "x.csv", options=QUIET,
                         stack=_h5(tmp_path / "flat.h5", cubes[..., 0], None))
    with pytest.raises(CandidateListError, match="must be an HDF5 N x H x W x C set"):
        score_candidates(lst, gri_committee, tmp_path / "x.csv", options=QUIET,
                         stack=write_fits(tmp_path / "s.fits", cubes[..., 0]))


def test_runs_of_different_bands_cannot_score_together(cls_run, gri_run):
    with pytest.raises(ModelDirError, match=r"the models take different bands \(.*: \[\]; "
                       r".*: \['g', 'r', 'i'\]\)"):
        Committee([load_member(cls_run), load_member(gri_run)])


def test_the_fits_export_of_a_multi_band_set_scores_as_it_is(tmp_path, gri_committee):
    from lensfind.data.fits import export_fits
    from lensfind.data.store import DataSet
    images = np.stack([np.moveaxis(_cube(s), 0, -1) for s in range(3)])
    dataset = DataSet(images=images, labels=np.array([1, 0, 1], np.int8), params={},
                      kinds=np.array(["lens", "star", "lens"]),
                      system_id=np.arange(3, dtype=np.int64),
                      meta={"bands": list(BANDS), "pixel_scale": 0.2})
    index = export_fits(dataset, tmp_path / "export")
    got = read_rows(score_candidates(index, gri_committee, tmp_path / "s.csv",
                                     options=QUIET).out)
    assert [r["status"] for r in got] == ["ok"] * 3
    assert [r["kind"] for r in got] == ["lens", "star", "lens"]
    stack = read_rows(score_candidates(
        write_list(tmp_path / "idx.csv", ["id", "index"], [[r["id"], k] for k, r in
                                                           enumerate(got)]),
        gri_committee, tmp_path / "h.csv", options=QUIET,
        stack=_h5(tmp_path / "set.h5", images, BANDS)).out)
    assert [r["p_lens"] for r in stack] == [r["p_lens"] for r in got]


def test_a_banded_tile_list_resolves_paths_after_the_band(tmp_path):
    from lensfind.score.cutouts import read_tile_list
    (tmp_path / "t.txt").write_text("# g, r\ng = a.fits\nr=/abs/b=1.fits  # note\nplain.fits\n")
    assert read_tile_list(tmp_path / "t.txt", banded=True) == [
        f"g={tmp_path / 'a.fits'}", "r=/abs/b=1.fits", tmp_path / "plain.fits"]
