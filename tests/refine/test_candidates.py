"""Candidate tables and cutouts for refine: refusals name the row, field and value before any work
(no regression run, noise in other units than the image, a prior excluding the network's mean);
write_cutout writes what read_cutout reads."""
from __future__ import annotations

import numpy as np
import pytest
from astropy.io import fits

from lensfind.files import csv_table
from lensfind.refine.candidates import read_candidates, read_cutout, write_cutout
from lensfind.refine.runner import RefineOptions, refine_candidates

NAMES = ("theta_e", "e1", "e2", "center_x", "center_y")


def _table(folder, changes=None, member="reg"):
    """Two 16 x 16 cutouts scored by a regression member ``member``; ``changes`` per row."""
    rows = []
    for i in range(2):
        write_cutout(folder / f"c{i}.fits", np.ones((16, 16)), 0.1, 0.1, 100.0, 5.0)
        row = {"id": f"c{i}", "path": f"c{i}.fits", "p_lens": 0.9}
        row.update({f"{member}_{n}": v for n, v in zip(NAMES, (0.5, 0.0, 0.0, 0.0, 0.0))})
        row.update({f"{member}_{n}_sigma": 0.05 for n in NAMES})
        row.update((changes or {}).get(i, {}))
        rows.append(row)
    path = folder / "scores.csv"
    path.write_text(csv_table(list(rows[0]), [list(r.values()) for r in rows]))
    return path


def test_write_cutout_round_trips(tmp_path):
    path = write_cutout(tmp_path / "a" / "c.fits", np.eye(12), 0.05, 0.1, 120.0, 4.0)
    image, units, obs, noise = read_cutout(path, "row")
    assert image.shape == (12, 12) and units == "electron"
    assert (obs.size, obs.pixel_scale) == (12, 0.05)
    assert (noise.sky, noise.read_noise, noise.units) == (120.0, 4.0, "electron")
    assert obs.margin == obs.psf.shape[0] // 2 > 0            # edges="sky" by default


def test_the_cli_offers_every_kind_of_edge():
    import argparse

    from lensfind.cli import _refine_args
    from lensfind.refine.candidates import EDGES
    parser = argparse.ArgumentParser()
    _refine_args(parser)
    edges = next(a for a in parser._actions if a.dest == "edges")
    assert sorted(edges.choices) == sorted(EDGES) and edges.default in EDGES


def test_cutout_edges_choose_the_margin_and_refuse_unknown_names(tmp_path):
    path = write_cutout(tmp_path / "c.fits", np.eye(12), 0.05, 0.1, 120.0, 4.0)
    assert read_cutout(path, "row", edges="dark")[2].margin == 0
    with pytest.raises(ValueError, match=r"cutout edges 'glow'.*dark, sky"):
        read_cutout(path, "row", edges="glow")


@pytest.mark.parametrize("member, changes, message", [
    ("reg", None, None),
    ("other", None, r"line 2: column other_theta_e \(--member other\) = None.*"
                    r"regression members in the table: \['reg'\]"),
    ("reg", {1: {"reg_e1": ""}}, r"line 3: reg_e1 = ''.*did not score"),
    ("reg", {0: {"reg_theta_e_sigma": "nan"}}, r"line 2: reg_theta_e_sigma = 'nan'.*finite"),
])
def test_a_candidate_without_a_regression_run_is_refused(tmp_path, member, changes, message):
    table = _table(tmp_path, changes)
    if message is None:
        assert [c.id for c in read_candidates(table, member)] == ["c0", "c1"]
        return
    with pytest.raises(ValueError, match=message):
        read_candidates(table, member)


def test_a_table_without_any_regression_run_names_none(tmp_path):
    table = _table(tmp_path, member="find")
    (tmp_path / "scores.csv").write_text(table.read_text().replace("find_theta_e", "p_x"))
    with pytest.raises(ValueError, match=r"column reg_theta_e.*members in the table: none"):
        read_candidates(table, "reg")


def _add_noise_map(path, shape=(16, 16), units=None):
    header = fits.Header({"BUNIT": units} if units else {})
    with fits.open(path, mode="update") as hdus:
        hdus.append(fits.ImageHDU(np.full(shape, 3.0, np.float32), header, name="NOISE"))


@pytest.mark.parametrize("edit, message", [
    (lambda p: fits.setval(p, "NOISEUNT", value="adu"), r"line 3: noise units = 'adu'"),
    (lambda p: fits.setval(p, "BUNIT", value="electron/s"),
     r"line 3: noise units = 'electron/s'"),
    (lambda p: _add_noise_map(p, units="electron/s"),
     r"line 3: image units \(BUNIT\) = 'electron'.*noise model's units, 'electron/s'"),
    (lambda p: _add_noise_map(p, shape=(8, 8)),
     r"line 3: NOISE extension shape of .*c1\.fits = \(8, 8\).*\(16, 16\)"),
])
def test_noise_that_does_not_match_the_image_is_refused(tmp_path, edit, message):
    table = _table(tmp_path)
    edit(tmp_path / "c1.fits")
    with pytest.raises(ValueError, match=message):
        read_candidates(table, "reg")


def test_a_noise_map_in_the_image_units_is_accepted(tmp_path):
    table = _table(tmp_path)
    _add_noise_map(tmp_path / "c1.fits", units="electron")
    assert read_candidates(table, "reg")[1].noise.noise_map.shape == (16, 16)


def test_a_prior_excluding_the_network_mean_is_refused_before_any_work(tmp_path):
    table = _table(tmp_path, {1: {"reg_center_x": 2.5}})     # the prior: +-0.8" for 1.6"
    with pytest.raises(ValueError,
                       match=r"line 3: network mean of center_x = 2\.5.*\[-0\.8, 0\.8\]"):
        refine_candidates(table, tmp_path / "out", RefineOptions(member="reg"))
    assert not (tmp_path / "out").exists()
