"""Real galaxies from images shipped inside installed packages (mgefit, scikit-image)."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim import func, sources


def test_fits_reader_matches_astropy():
    from astropy.io import fits
    path = sources.mgefit_dir() / "ngc4342_f814w_pc.fits"
    assert np.array_equal(sources.read_primary_fits(path), fits.getdata(path).astype(np.float32))


@pytest.mark.parametrize("bank", [sources.hdf_source_bank, sources.mgefit_light_bank])
def test_banks_are_unit_sum_stamps_with_sizes(bank):
    b = bank()
    assert len(b) >= 3 and b.stamps.dtype == np.float32
    assert np.allclose(b.stamps.sum(axis=(1, 2)), 1.0, atol=1e-4)
    assert np.all(b.stamps >= 0) and np.all(b.r_half > 0.5)
    # the padding border is zero (rendering outside a stamp gives 0)
    assert np.all(b.stamps[:, 0, :] == 0) and np.all(b.stamps[:, :, -1] == 0)


def test_rendered_stamp_conserves_flux_and_half_light_radius():
    bank = sources.hdf_source_bank()
    x, y = func.grid(120, 0.02, 2)
    idx = np.arange(3)
    sb = sources.render_stamps(x, y, bank, idx, np.zeros(3), np.zeros(3), np.full(3, 0.2),
                               np.array([0.0, 1.0, 2.0]), np.full(3, 1000.0))
    flux = sb.sum(axis=(1, 2)) * (0.02 / 2) ** 2
    assert np.allclose(flux, 1000.0, rtol=0.03)


def test_hst_cutouts_are_deterministic():
    a, names = sources.hst_cutouts(np.random.default_rng(0), 3, 40, 0.05)
    b, _ = sources.hst_cutouts(np.random.default_rng(0), 3, 40, 0.05)
    assert a.shape == (3, 40, 40) and np.array_equal(a, b) and len(names) == 3
