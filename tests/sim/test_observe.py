"""Observation effects: pixel integration, PSF kernels and convolution, noise, artifacts."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim import observe
from lensfind.sim.config import ArtifactsConfig


def test_downsample_is_block_mean():
    rng = np.random.default_rng(0)
    a = rng.random((2, 12, 12)).astype(np.float32)
    ref = a.reshape(2, 4, 3, 4, 3).mean(axis=(2, 4))
    assert np.allclose(observe.downsample(a, 3), ref, rtol=1e-6)


@pytest.mark.parametrize("kind", ["gaussian", "moffat"])
def test_kernels_have_unit_sum_and_the_right_fwhm(kind):
    fwhm = np.array([0.1, 0.3])
    pix = 0.01  # fine pixels: the half-maximum width is measurable
    k = (observe.gaussian_kernels(fwhm, 101, pix) if kind == "gaussian"
         else observe.moffat_kernels(fwhm, 3.0, 101, pix))
    assert np.allclose(k.sum(axis=(1, 2)), 1.0, atol=1e-5)
    for i, f in enumerate(fwhm):
        row = k[i, 50]
        width = (row >= row.max() / 2).sum() * pix
        assert abs(width - f) <= 2 * pix


def test_convolution_identity_and_shift():
    rng = np.random.default_rng(1)
    img = rng.random((3, 20, 20)).astype(np.float32)
    delta = np.zeros((1, 5, 5), np.float32)
    delta[0, 2, 2] = 1
    assert np.allclose(observe.convolve(img, delta), img, atol=1e-5)
    shift = np.zeros((1, 5, 5), np.float32)
    shift[0, 2, 3] = 1  # moves the image one pixel to +x
    assert np.allclose(observe.convolve(img, shift)[:, :, 1:], img[:, :, :-1], atol=1e-5)


def test_noise_has_poisson_plus_read_variance():
    rng = np.random.default_rng(2)
    signal = np.zeros((2, 200, 200), np.float32)
    signal[1] = 20.0
    sky = np.array([10.0, 400.0])  # exact Poisson below 50 e-, Gaussian limit above
    out = observe.add_noise(rng, signal, sky, read_noise=3.0)
    for i, expected_mean in enumerate((0.0, 20.0)):
        assert out[i].mean() == pytest.approx(expected_mean, abs=0.1)
        assert out[i].var() == pytest.approx(signal[i, 0, 0] + sky[i] + 9.0, rel=0.03)
    exact = observe.add_noise(np.random.default_rng(5), signal[:1], sky[:1], read_noise=0.0)
    assert np.array_equal(exact, np.round(exact))  # integer counts where Poisson is exact


def test_artifacts_are_deterministic_and_mask_with_zeros():
    img = np.full((20, 32, 32), 5.0, np.float32)
    cfg = ArtifactsConfig(cosmic_rays=2.0, hot_pixels=3.0, mask_probability=1.0)
    a, b = img.copy(), img.copy()
    observe.add_artifacts(np.random.default_rng(3), a, cfg, np.ones(20))
    observe.add_artifacts(np.random.default_rng(3), b, cfg, np.ones(20))
    assert np.array_equal(a, b)
    assert np.all((a == 0).any(axis=(1, 2)))      # every image has masked pixels
    assert (a > 10).sum() > 20                    # cosmic rays and hot pixels
