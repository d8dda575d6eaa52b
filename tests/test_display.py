"""The one image stretch of every picture (lensfind.display)."""
import numpy as np

import pytest

from lensfind.display import asinh_stretch, colour_composite, show


def test_asinh_stretch_range():
    rng = np.random.default_rng(0)
    img = rng.normal(0, 1, (32, 32))
    img[16, 16] = 1e4
    out = asinh_stretch(img)
    assert out.min() >= 0 and out.max() == 1 and out.shape == img.shape
    assert out[16, 16] == 1 and np.median(out) < 0.5
    assert np.isfinite(asinh_stretch(np.zeros((8, 8)))).all()


def test_asinh_stretch_ignores_the_flux_unit_and_shows_nan_as_sky():
    rng = np.random.default_rng(1)
    img = rng.normal(10, 2, (24, 24))
    img[12, 12] = 300.0
    out = asinh_stretch(img)
    np.testing.assert_allclose(asinh_stretch(5.0 * img + 7.0), out, atol=1e-12)
    sky = asinh_stretch(np.full((4, 4), 10.0) + rng.normal(0, 1, (4, 4)))
    assert sky.min() >= 0 and sky.max() <= 1
    holed = img.copy()
    holed[0, 0] = np.nan
    stretched = asinh_stretch(holed)
    assert np.isfinite(stretched).all()
    assert abs(stretched[0, 0] - np.median(stretched)) < 0.05
    assert (asinh_stretch(np.full((3, 3), np.nan)) == 0).all()


def test_colour_composite_shows_the_reddest_band_red_and_the_bluest_blue():
    rng = np.random.default_rng(1)
    img = rng.normal(0, 1, (32, 32, 3))    # g, r, i
    img[8, 8, 2] += 50.0     # bright in i only
    img[24, 24, 0] += 50.0   # bright in g only
    rgb = colour_composite(img)
    assert rgb.shape == (32, 32, 3) and rgb.min() >= 0 and rgb.max() <= 1
    assert rgb[8, 8, 0] > 0.5 and rgb[8, 8, 2] < 0.1
    assert rgb[24, 24, 2] > 0.5 and rgb[24, 24, 0] < 0.1
    assert show(img).shape == (32, 32, 3) and show(img[..., 0]).shape == (32, 32)
    assert show(img[..., :2]).shape == (32, 32)     # 2 bands: the stretch of their mean
    with pytest.raises(ValueError, match=r"shape \(32, 32, 2\) is invalid: expected \(H, W, 3\)"):
        colour_composite(img[..., :2])
