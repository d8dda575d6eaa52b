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
