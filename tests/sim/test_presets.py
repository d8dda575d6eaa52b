"""simulation.preset: every survey preset loads and simulates; the file's own settings win."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.config.experiment import experiment_from_dict
from lensfind.sim.config import SimConfig
from lensfind.sim.presets import PRESETS
from lensfind.sim.simulate import simulate
from lensfind.validation import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: what the issue asks of each preset: (pixel scale, band names)
EXPECTED = {"hst": (0.05, ()), "euclid_vis": (0.1, ("VIS",)), "hsc": (0.168, ("g", "r", "i")),
            "lsst": (0.2, ("g", "r", "i")), "des": (0.263, ("g", "r", "i"))}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_loads_and_simulates(name):
    assert set(PRESETS) == set(EXPECTED)
    sim = experiment_from_dict({"simulation": {"preset": name, "supersampling": 1}}).simulation
    assert (sim.pixel_scale, sim.band_names) == EXPECTED[name]
    if name == "hst":
        assert sim == SimConfig(supersampling=1)
    b = simulate(sim.replace(size=24), seed=1, n_lenses=2, n_nonlenses=2)
    shape = (4, 24, 24) + ((len(sim.bands),) if sim.bands else ())
    assert b.images.shape == shape and np.all(np.isfinite(b.images))
    # sky noise dominates an empty corner: its rms is within a factor 2 of background_rms
    if sim.bands:
        rms = b.images[:, :4, :4, 0].std()
        assert 0.3 < rms / np.median(b.params["background_rms"]) < 3


def test_settings_in_the_file_win_and_unknown_presets_are_refused():
    sim = experiment_from_dict({"simulation": {"preset": "hsc", "size": 32}}).simulation
    assert sim.size == 32 and sim.pixel_scale == 0.168
    with pytest.raises(ConfigError, match=r"f.toml: .*simulation.preset 'sdss'.*des, euclid_vis"):
        experiment_from_dict({"simulation": {"preset": "sdss"}}, source="f.toml")


@pytest.mark.parametrize("name", ["euclid_vis", "hsc", "lsst", "des"])
def test_coadd_presets_have_no_cosmic_rays_and_the_files_artifacts_still_win(name):
    sim = experiment_from_dict({"simulation": {"preset": name}}).simulation
    assert sim.artifacts.cosmic_rays == 0.0
    assert sim.artifacts.hot_pixels == SimConfig().artifacts.hot_pixels  # kept: not rejected
    own = experiment_from_dict({"simulation": {"preset": name, "artifacts": {
        "hot_pixels": 3.0}}}).simulation
    assert (own.artifacts.cosmic_rays, own.artifacts.hot_pixels) == (0.0, 3.0)
    again = experiment_from_dict({"simulation": {"preset": name, "artifacts": {
        "cosmic_rays": 0.2}}}).simulation
    assert again.artifacts.cosmic_rays == 0.2
    assert PRESETS[name]["artifacts"]["cosmic_rays"] == 0.0  # the table is not changed by loads


def test_the_hst_preset_keeps_the_default_cosmic_rays():
    sim = experiment_from_dict({"simulation": {"preset": "hst"}}).simulation
    assert sim.artifacts == SimConfig().artifacts
