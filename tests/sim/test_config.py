"""The [simulation] table: defaults usable as they are, bad values refused with clear messages."""
from __future__ import annotations

import pytest

from lensfind.config import experiment_from_dict, load_experiment
from lensfind.sim.config import SimConfig
from lensfind.validation import ConfigError


def test_defaults_are_valid_and_hst_like():
    cfg = SimConfig()
    assert (cfg.size, cfg.pixel_scale) == (100, 0.05)
    assert cfg.lens.theta_e == (0.5, 1.5)
    assert cfg.field_of_view == pytest.approx(5.0)


def test_load_experiment_reads_simulation_table(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[simulation]\nsize = 64\nn_lenses = 3\n[simulation.lens]\n'
                    'theta_e = [0.8, 1.2]\n[simulation.source]\nkind = "mixed"\n'
                    '[simulation.negatives]\nstar = 0.0\n')
    sim = load_experiment(path).simulation
    assert sim.size == 64 and sim.n_lenses == 3
    assert sim.lens.theta_e == (0.8, 1.2)
    assert sim.source.kind == "mixed"
    assert sim.negatives.weights()["star"] == 0.0


@pytest.mark.parametrize("table, pattern", [
    ({"lens": {"theta_e": [-1.0, 2.0]}}, r"simulation\.lens\.theta_e = -1\.0 .*expected"),
    ({"lens": {"theta_e": [2.0, 1.0]}}, r"simulation\.lens\.theta_e .*low <= high"),
    ({"lens": {"axis_ratio": [0.5, 1.2]}}, r"simulation\.lens\.axis_ratio = 1\.2 .*\(0\.0, 1\.0\]"),
    ({"lens": {"axis_ratio": [0.0, 1.0]}}, r"simulation\.lens\.axis_ratio = 0\.0 .*\(0\.0, 1\.0\]"),
    ({"source": {"kind": "blob"}},
     r"simulation\.source\.kind = 'blob' .*'mixed', 'real', 'sersic'"),
    ({"lens_light": {"kind": "x"}}, r"simulation\.lens_light\.kind = 'x'"),
    ({"psf": {"kind": "airy"}}, r"simulation\.psf\.kind = 'airy' .*'gaussian'"),
    ({"psf": {"kind": "image"}}, r"simulation\.psf\.image_path .*\.fits or \.npy"),
    ({"psf": {"kernel_size": 20}}, r"simulation\.psf\.kernel_size = 20 .*odd"),
    ({"size": 10.5}, r"simulation\.size = 10\.5 .*integer"),
    ({"pixel_scale": 0}, r"simulation\.pixel_scale = 0 .*\(0\.0"),
    ({"n_lenses": 0, "n_nonlenses": 0}, r"at least 1 image"),
    ({"negatives": {"lens_galaxy": 0, "neighbour": 0, "star": 0, "ring": 0, "spiral": 0,
                    "real_hst": 0}}, r"simulation\.negatives .*at least one weight > 0"),
    ({"negatives": {"ring": -1}}, r"simulation\.negatives\.ring = -1"),
    ({"noise": {"exposure_time": [0, 10]}}, r"simulation\.noise\.exposure_time = 0"),
    ({"lens": {"unknown": 1}}, r"simulation\.lens: unknown setting\(s\) unknown"),
    ({"ring": {"radius": [1.6, 0.4]}},
     r"simulation\.ring\.radius = \(1\.6, 0\.4\) is invalid: expected .*low <= high"),
    ({"star": {"count": [1.5, 3]}}, r"simulation\.star\.count = \(1\.5, 3\) .*two integers"),
    ({"spiral": {"pitch": [10.0, 90.0]}}, r"simulation\.spiral\.pitch = 90\.0 .*\(0\.0, 90\.0\)"),
    ({"neighbour": {"tangential_fraction": 2}},
     r"simulation\.neighbour\.tangential_fraction = 2 .*\[0\.0, 1\.0\]"),
    ({"lens_light": {"follow_min_axis_ratio": 0}},
     r"simulation\.lens_light\.follow_min_axis_ratio = 0 .*\(0\.0, 1\.0\]"),
    ({"field_galaxy": {"magnitude": [26.0, 23.0]}},
     r"simulation\.field_galaxy\.magnitude .*low <= high"),
    ({"artifacts": {"dead_pixel_fraction": [0.01, 1.5]}},
     r"simulation\.artifacts\.dead_pixel_fraction = 1\.5 .*\[0\.0, 1\.0\]"),
])
def test_bad_values_are_refused(table, pattern):
    with pytest.raises(ConfigError, match=pattern):
        experiment_from_dict({"simulation": table}, source="exp.toml")


def test_non_lens_priors_are_set_from_the_simulation_table(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[simulation]\n[simulation.ring]\nradius = [0.5, 1.0]\n'
                    '[simulation.star]\ncount = [2, 2]\n')
    sim = load_experiment(path).simulation
    assert sim.ring.radius == (0.5, 1.0) and sim.star.count == (2, 2)
    assert sim.ring.width == SimConfig().ring.width and sim.spiral == SimConfig().spiral
    sim = experiment_from_dict({"simulation": {"real_hst": {"zoom": [1.0, 1.0]}}},
                               source="exp.toml").simulation
    assert sim.real_hst.zoom == (1.0, 1.0)
    with pytest.raises(ConfigError, match=r"simulation\.spiral: unknown setting\(s\) arm"):
        experiment_from_dict({"simulation": {"spiral": {"arm": [2, 3]}}}, source="exp.toml")


def test_replace_nested_tables():
    cfg = SimConfig().replace(size=32, psf={"kind": "moffat"})
    assert cfg.size == 32 and cfg.psf.kind == "moffat" and cfg.psf.fwhm == SimConfig().psf.fwhm
    with pytest.raises(ConfigError):
        SimConfig().replace(lens={"theta_e": (-1.0, 1.0)})
