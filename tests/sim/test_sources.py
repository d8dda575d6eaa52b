"""Real galaxies from images shipped inside installed packages (mgefit, scikit-image)."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim import func, sources


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
    assert np.all(np.abs(a).max(axis=(1, 2)) > 0) and not np.array_equal(a[0], a[1])


def test_resample_crop_shifts_flips_rotates_and_fills_as_documented():
    img = np.arange(30 * 30, dtype=np.float64).reshape(30, 30) + 1.0
    crop = img[10:20, 10:20]  # 10 x 10 pixels centred on (14.5, 14.5)
    same = sources.resample_crop(img, 14.5, 14.5, 10, 1.0, 0.0, False)
    np.testing.assert_allclose(same, crop, atol=1e-9)
    np.testing.assert_allclose(sources.resample_crop(img, 14.5, 14.5, 10, 1.0, 0.0, True),
                               crop[:, ::-1], atol=1e-9)
    np.testing.assert_allclose(sources.resample_crop(img, 14.5, 14.5, 10, 1.0, np.pi / 2, False),
                               np.rot90(crop), atol=1e-9)
    half = sources.resample_crop(img, 14.5, 14.5, 10, 0.5, 0.0, False)  # 2x zoom in
    np.testing.assert_allclose(half[::2, ::2][:4, :4], img[12:16, 12:16] + 0.25 * 31, atol=1e-9)
    # off the field: zeros ("constant") or the edge pixel ("nearest")
    corner = sources.resample_crop(img, 0.0, 0.0, 10, 1.0, 0.0, False)
    assert (corner == 0).sum() > 0 and (corner[5:, 5:] > 0).all()
    assert (sources.resample_crop(img, 0.0, 0.0, 10, 1.0, 0.0, False, mode="nearest") > 0).all()
