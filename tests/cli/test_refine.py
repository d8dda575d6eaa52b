"""``lensfind refine``: scored candidates -> samples, plots, table; resumes; refuses bad rows."""
from __future__ import annotations

import csv
import re

import numpy as np
import pytest
from astropy.io import fits

from lensfind.cli import main
from lensfind.refine import forward, simulated
from lensfind.sim.simulate import simulate

CONFIG = simulated.clean_config(size=20, pixel_scale=0.12, n_lenses=2)
NAMES = forward.LENS_NAMES[:5]
SIGMA = np.array([0.04, 0.04, 0.04, 0.02, 0.02])


def _write_candidates(folder, network_rows=None):
    batch = simulate(CONFIG, seed=2)
    rows, truths = [], []
    for i in range(len(batch)):
        p = batch.params
        header = fits.Header({"BUNIT": "electron", "PIXSCALE": CONFIG.pixel_scale,
                              "PSFFWHM": float(p["psf_fwhm"][i]), "SKY": float(p["sky"][i]),
                              "RDNOISE": CONFIG.noise.read_noise})
        fits.PrimaryHDU(batch.images[i], header).writeto(folder / f"lens{i}.fits")
        truth = simulated.truth(p, i, CONFIG)[[forward.NAMES.index(n) for n in NAMES]]
        mean = truth + SIGMA * np.random.default_rng(i).standard_normal(len(NAMES))
        row = {"id": f"lens{i}", "path": f"lens{i}.fits", "reg_cov_theta_e_e1": 0.0}
        row.update({f"reg_{n}": m for n, m in zip(NAMES, mean)})
        row.update({f"reg_{n}_sigma": s for n, s in zip(NAMES, SIGMA)})
        rows.append(row)
        truths.append({"id": f"lens{i}", "theta_e": float(p["theta_e"][i]),
                       "e1": "" if i == 1 else float(p["e1"][i]), "label": 1})
    _write_csv(folder / "truth.csv", truths)
    for i, changes in (network_rows or {}).items():
        rows[i].update(changes)
    return _write_csv(folder / "scores.csv", rows)


def _write_csv(path, rows):
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


ARGS = ["--member", "reg", "--warmup", "30", "--draws", "30", "--supersampling", "1"]


@pytest.mark.slow   # ~70 s on 2 loaded cores: three candidates fitted and sampled
def test_refine_writes_samples_plots_and_table_and_resumes(tmp_path, capsys):
    table = _write_candidates(tmp_path)
    out = tmp_path / "refined"
    truth = ["--truth", str(tmp_path / "truth.csv")]
    assert main(["refine", str(table), "--out", str(out)] + ARGS + truth) == 0
    for i in range(2):
        with np.load(out / f"lens{i}" / "samples.npz") as npz:
            assert npz["samples"].shape == (2, 30, len(forward.NAMES))
            assert list(npz["names"]) == list(forward.NAMES)
        assert (out / f"lens{i}" / "corner.png").stat().st_size > 10_000
        assert (out / f"lens{i}" / "residuals.png").stat().st_size > 5_000
    with open(out / "refined.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == ["lens0", "lens1"]
    for row in rows:      # 60 draws cannot reach ESS 50 in every parameter: flagged, kept
        assert row["flag"].startswith(("rhat(", "ess_", "divergent")), row["flag"]
        assert float(row["theta_e_p16"]) <= float(row["theta_e"]) <= float(row["theta_e_p84"])
        assert float(row["theta_e_network_sigma"]) == pytest.approx(0.04)
        assert abs(float(row["theta_e_truth"]) - float(row["theta_e"])) < 0.1
    assert rows[1]["e1_truth"] == "nan" and rows[0]["e1_truth"] != "nan"
    assert "HMC [68 %] / network (/ truth)" in (out / "refined.md").read_text()
    assert "/ truth " in (out / "refined.md").read_text()
    # a kill after lens0: lens1's record is gone; the rerun keeps lens0 and redoes lens1
    before = (out / "lens0" / "samples.npz").stat().st_mtime_ns
    (out / "lens1" / "summary.json").unlink()
    capsys.readouterr()
    assert main(["refine", str(table), "--out", str(out)] + ARGS + truth) == 0
    said = capsys.readouterr().out
    assert "lens0: done before, kept" in said and "lens1: done before" not in said
    assert (out / "lens0" / "samples.npz").stat().st_mtime_ns == before
    assert (out / "lens1" / "summary.json").is_file()


@pytest.mark.parametrize("changes, message", [
    ({1: {"reg_theta_e": "nan"}}, r"line 3: reg_theta_e = 'nan'.*regression"),
    ({0: {"reg_theta_e": "9.5"}}, r"line 2: network mean of theta_e = 9\.5.*prior range"),
])
def test_bad_rows_are_refused_before_any_work(tmp_path, capsys, changes, message):
    table = _write_candidates(tmp_path, changes)
    assert main(["refine", str(table), "--out", str(tmp_path / "refined")] + ARGS) != 0
    assert re.search(message, capsys.readouterr().err)
    assert not (tmp_path / "refined").exists()


def test_noise_in_other_units_than_the_image_is_refused(tmp_path, capsys):
    table = _write_candidates(tmp_path)
    with fits.open(tmp_path / "lens1.fits", mode="update") as hdus:
        hdus[0].header["BUNIT"] = "electron/s"
    assert main(["refine", str(table), "--out", str(tmp_path / "refined")] + ARGS) != 0
    assert "line 3: noise units = 'electron/s'" in capsys.readouterr().err
    assert not (tmp_path / "refined").exists()


@pytest.mark.parametrize("truth_rows, message", [
    ([{"id": "lens0", "theta_e": 0.8}], r"ids of the candidates = \['lens1'\].*1 missing"),
    ([{"id": "lens0", "theta_e": 0.8}, {"id": "lens1", "theta_e": "big"}],
     r"truth\.csv line 3: theta_e = 'big'.*a number or an empty cell"),
    ([{"name": "lens0", "theta_e": 0.8}], r"id column = 'id'.*\['name', 'theta_e'\]"),
    ([{"id": "lens0", "mass": 0.8}], r"parameter columns.*theta_e"),
])
def test_a_bad_truth_table_is_refused_before_any_work(tmp_path, capsys, truth_rows, message):
    table = _write_candidates(tmp_path)
    _write_csv(tmp_path / "truth.csv", truth_rows)
    out = tmp_path / "refined"
    assert main(["refine", str(table), "--out", str(out), "--truth",
                 str(tmp_path / "truth.csv")] + ARGS) != 0
    assert re.search(message, capsys.readouterr().err)
    assert not out.exists()
