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


def test_colour_bank_holds_the_grey_banks_galaxies_channel_by_channel():
    grey, colour = sources.hdf_source_bank(), sources.hdf_colour_bank()
    assert colour.stamps.shape == (len(grey), 3) + grey.stamps.shape[1:]
    assert colour.stamps.dtype == np.float32 and np.all(colour.stamps >= 0)
    assert np.allclose(colour.stamps.sum(axis=(2, 3)), 1.0, atol=1e-4)
    assert np.all(colour.flux > 0) and colour.wavelengths == sources.HDF_CHANNEL_WAVELENGTHS
    # the channels' flux-weighted mean is the grey stamp up to the channels' variance of the
    # display value (documented in hdf_channels): close, not equal
    weights = colour.flux / colour.flux.sum(axis=1, keepdims=True)
    mean = (colour.stamps * weights[:, :, None, None]).sum(axis=1)
    l1 = np.abs(mean - grey.stamps).sum(axis=(1, 2))
    assert np.median(l1) < 0.05 and l1.max() < 0.2
    # pixel by pixel: mean(v^2) = mean(v)^2 + var(v), each image less its own median
    from skimage import data
    v = data.hubble_deep_field().astype(np.float32) / 255.0
    ch = sources.hdf_channels()
    lum = sources.hdf_luminance()
    np.testing.assert_allclose(ch.mean(axis=2) + np.median(v ** 2, axis=(0, 1)).mean(),
                               lum + np.median(v.mean(axis=2) ** 2) + v.var(axis=2), atol=1e-5)


def test_channel_blend_interpolates_and_extrapolates_as_documented():
    side = 4
    stamps = np.zeros((1, 3, side, side), np.float32)
    for c in range(3):
        stamps[0, c, 1 + c // 2, 1 + c % 2] = 1.0
    colour = sources.ColourStamps(stamps, np.array([[100.0, 10.0, 1.0]]), (900.0, 600.0, 400.0))
    at, log_flux = sources.channel_blend(colour, 600.0)   # on a channel: that channel
    np.testing.assert_array_equal(at, stamps[:, 1])
    np.testing.assert_allclose(log_flux, [1.0])
    mid, log_flux = sources.channel_blend(colour, 750.0)   # halfway: half of each
    np.testing.assert_allclose(mid, 0.5 * (stamps[:, 1] + stamps[:, 0]))
    np.testing.assert_allclose(log_flux, [1.5])
    red, log_flux = sources.channel_blend(colour, 1200.0)   # beyond: nearest stamp, log-linear
    np.testing.assert_array_equal(red, stamps[:, 0])
    np.testing.assert_allclose(log_flux, [3.0])
    blue, log_flux = sources.channel_blend(colour, 300.0)
    np.testing.assert_array_equal(blue, stamps[:, 2])
    np.testing.assert_allclose(log_flux, [-0.5])


def test_hdf_band_colours_centre_on_the_prior_and_keep_the_grey_geometry():
    from lensfind.sim.colours import BAND_NAMES, BAND_WAVELENGTHS, COLOURS, REFERENCE_BAND
    assert tuple(BAND_WAVELENGTHS) == BAND_NAMES
    grey = sources.hdf_source_bank()
    ref_bank, ref_offset = sources.hdf_band(REFERENCE_BAND, "source")
    np.testing.assert_allclose(ref_offset, 0.0, atol=1e-9)
    for band in BAND_NAMES:
        bank, offset = sources.hdf_band(band, "source")
        assert bank.stamps.shape == grey.stamps.shape and bank.r_half is grey.r_half
        assert np.allclose(bank.stamps.sum(axis=(1, 2)), 1.0, atol=1e-4)
        np.testing.assert_allclose(np.median(offset), np.mean(COLOURS["source"][band]),
                                   atol=1e-9)
    # fainter (AB) in g than in r than in z on the whole, as the prior; galaxies differ in colour
    g, r, z = (sources.hdf_band(b, "source")[1] for b in "grz")
    assert np.std(g) > 0.1 and np.mean(g > r) > 0.5 and np.mean(r > z) > 0.5
