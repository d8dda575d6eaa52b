"""lensfind demo's colour stage (a 3-band set drawn as a colour gallery) and refine stage
(posterior plots and table for the held-out lenses the regression run scored)."""
from __future__ import annotations

import pytest
from astropy.io import fits
from matplotlib.image import imread

from lensfind import demo
from lensfind.config import load_experiment
from lensfind.demo import EXPERIMENTS, STAGES, DemoState, stage_colour, stage_refine
from lensfind.files import csv_table
from lensfind.refine import simulated
from lensfind.refine.forward import LENS_NAMES
from lensfind.refine.nuts import NutsSettings
from lensfind.sim.simulate import simulate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_colour_stage_draws_a_three_band_gallery(tmp_path):
    assert list(STAGES)[:2] == ["simulate", "colour"]
    lines = stage_colour(DemoState(tmp_path))
    assert "bands g, r, i" in lines[0]
    picture = imread(tmp_path / "gallery_gri.png")
    assert picture.shape[0] > 200 and picture[..., :3].std() > 0.1


def _heldout(tmp_path, member="demo-regress"):
    """A stand-in for the evaluate stage's output: two simulated lenses and a non-lens as FITS
    cutouts, scored by a regression member (its mean: the truth; one lens too large to refine)."""
    config = simulated.clean_config(size=32, pixel_scale=0.05, n_lenses=2)
    batch = simulate(config, seed=3)
    (tmp_path / "heldout" / "cutouts").mkdir(parents=True)
    rows = []
    for i, (kind, theta_e, p_lens) in enumerate((("lens", 0.5, 0.9), ("lens", 0.9, 0.95),
                                                 ("nonlens", 0.3, 0.99))):
        path = f"cutouts/{i:06d}.fits"
        fits.PrimaryHDU(batch.images[i % 2], fits.Header({"PIXSCALE": 0.05})).writeto(
            tmp_path / "heldout" / path)
        row = {"id": f"{i:06d}", "path": path, "status": "ok", "kind": kind, "p_lens": p_lens,
               "psf_fwhm": float(batch.params["psf_fwhm"][i % 2]),
               "sky": float(batch.params["sky"][i % 2]), f"{member}_theta_e": theta_e}
        row.update({f"{member}_{n}": 0.0 for n in ("e1", "e2", "center_x", "center_y")})
        row.update({f"{member}_{n}_sigma": 0.05 for n in LENS_NAMES[:5]})
        rows.append(row)
    (tmp_path / "scores").mkdir()
    (tmp_path / "scores" / "heldout.csv").write_text(
        csv_table(list(rows[0]), [list(r.values()) for r in rows]))
    truth = ["theta_e", "e1", "e2", "center_x", "center_y"]     # the export's index.csv
    (tmp_path / "heldout" / "index.csv").write_text(csv_table(
        ["id"] + truth, [[r["id"]] + [float(batch.params[n][i % 2]) for n in truth]
                         for i, r in enumerate(rows)]))


@pytest.mark.slow   # ~30 s on 2 cores: one small candidate, a short NUTS run
def test_refine_stage_writes_plots_and_table(tmp_path, monkeypatch):
    assert list(STAGES)[-3:] == ["score", "evaluate", "refine"]
    monkeypatch.setattr(demo, "REFINE_CROP", 24)
    monkeypatch.setattr(demo, "REFINE_NUTS", NutsSettings(chains=2, warmup=20, draws=20))
    _heldout(tmp_path)
    state = DemoState(tmp_path, {"find": (load_experiment(EXPERIMENTS / "demo-find.toml"), None),
                                 "regress_member": "demo-regress"})
    lines = stage_refine(state)
    assert len(lines) == 2 and lines[0].startswith("000000 (")   # the lens with theta_e <= 0.6
    folder = tmp_path / "refine" / "000000"
    for name in ("corner.png", "residuals.png"):
        assert str(folder / name) in lines[0]
        picture = imread(folder / name)
        assert picture.shape[0] > 200 and picture[..., :3].std() > 0.05
    assert fits.getdata(tmp_path / "refine" / "cutouts" / "000000.fits").shape == (24, 24)
    assert "000000" in (tmp_path / "refine" / "refined.md").read_text()
    assert "/ truth " in (tmp_path / "refine" / "refined.md").read_text()
    assert str(tmp_path / "refine" / "refined.csv") in lines[1]
