"""benchmarks/bench_bands.py compares single- and 3-band lens finding on the same systems."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim.simulate import simulate
from tests.benchmarks.scripts import load_script

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_both_sides_simulate_the_same_systems_in_their_bands():
    exps = load_script("bench_bands").experiments(n=4, folds=2, epochs=1, learning_rate=1e-3)
    assert exps["i"].simulation.band_names == ("i",)
    assert exps["g,r,i"].simulation.band_names == ("g", "r", "i")
    assert exps["i"].seed == exps["g,r,i"].seed
    single, gri = (simulate(exps[k].simulation.replace(supersampling=1), seed=exps[k].seed)
                   for k in ("i", "g,r,i"))
    assert single.images.shape[-1] == 1 and gri.images.shape[-1] == 3
    assert np.array_equal(single.kinds, gri.kinds)
    for name in ("theta_e", "source_x", "light_mag", "source_mag"):
        assert np.array_equal(single.params[name], gri.params[name], equal_nan=True), name
    # the i band itself: same exposure, zero point and colours, its own noise stream
    assert np.array_equal(single.params["light_mag_i"], gri.params["light_mag_i"],
                          equal_nan=True)
