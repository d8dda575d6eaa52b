"""The pixel-integration check: coarse sub-pixels on a compact source move the model by many
chi2, fine ones do not, and the check's failure names the supersampling (TensorFlow and JAX)."""
from __future__ import annotations

import dataclasses

import numpy as np

from lensfind.refine import diagnostics, forward, simulated
from lensfind.refine.integration import supersampling_chi2
from lensfind.sim.simulate import simulate

# 0.05" pixels, a compact bright source: the case where 2 sub-pixels per side are not enough
CONFIG = simulated.clean_config(size=32, pixel_scale=0.05, supersampling=2, n_lenses=1,
                                source={"r_sersic": [0.04, 0.05], "magnitude": [21.0, 21.5]})


def test_coarse_sub_pixels_move_a_compact_source_by_many_chi2():
    batch = simulate(CONFIG, seed=2)
    theta = simulated.truth(batch.params, 0, CONFIG)
    obs = simulated.observation(batch.params, 0, CONFIG)
    noise = simulated.noise_model(batch.params, 0, CONFIG)
    chi2 = {s: supersampling_chi2(theta, dataclasses.replace(obs, supersampling=s), noise)
            for s in (1, 8)}
    assert chi2[1] > 10.0 > 1.0 > chi2[8], chi2
    # against a direct computation: s = 1 against 2 sub-pixels
    coarse, fine = (np.asarray(forward.render(theta[None].astype(np.float32),
                                              dataclasses.replace(obs, supersampling=s)))[0]
                    for s in (1, 2))
    weight, base = noise.variance_terms(fine.shape)
    direct = np.sum((coarse - fine) ** 2 / (weight * np.maximum(fine, 0) + base))
    assert abs(chi2[1] / direct - 1) < 1e-4


def test_the_failure_names_the_supersampling_and_the_limit():
    limits = diagnostics.Limits(integration_chi2_max=1.0)
    assert diagnostics.integration_failure(0.5, 2, limits) is None
    assert diagnostics.integration_failure(38.0, 2, limits) == (
        "supersampling 2 too coarse: the MAP model moves by chi2 = 38.0 > 1 at 4")
    assert diagnostics.integration_failure(1e6, 2, diagnostics.Limits(
        integration_chi2_max=float("inf"))) is None
