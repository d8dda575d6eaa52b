"""The one image stretch of every picture (lensfind.display)."""
import numpy as np

from lensfind.display import asinh_stretch


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
