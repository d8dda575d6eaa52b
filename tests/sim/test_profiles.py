"""Light profiles of lensfind.sim.profiles not covered against lenstronomy in test_lensing.py."""
from __future__ import annotations

import numpy as np

from lensfind.sim import func, profiles


def test_gaussian_knots_are_normalised_circular_gaussians():
    x, y = func.grid(80, 0.05, 2)
    flux = np.array([[100.0, 30.0], [5.0, 0.0]])
    sigma = np.array([[0.05, 0.12], [0.08, 0.03]])
    cx = np.array([[0.3, -0.5], [0.0, 1.0]])
    cy = np.array([[-0.2, 0.4], [0.1, 1.0]])
    image = profiles.gaussian_knots(x, y, flux, sigma, cx, cy)
    assert image.shape == (2, 160, 160)
    # total flux: the sum of the knot fluxes (all well inside the 4" grid)
    area = 0.025 ** 2
    np.testing.assert_allclose(image.sum(axis=(1, 2)) * area, flux.sum(axis=1), rtol=1e-3)
    # the separable evaluation equals the direct 2-D sum
    direct = sum(flux[:, k, None, None] / (2 * np.pi * sigma[:, k, None, None] ** 2)
                 * np.exp(-((x - cx[:, k, None, None]) ** 2 + (y - cy[:, k, None, None]) ** 2)
                          / (2 * sigma[:, k, None, None] ** 2)) for k in range(2))
    np.testing.assert_allclose(image, direct, rtol=1e-4, atol=1e-3)
