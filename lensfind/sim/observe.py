"""Observation, batched: pixel integration, PSF, sky, shot and read noise, detector artifacts.

Images are in electrons; the sky is subtracted after the noise is drawn (as in reduced HST data).
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from lensfind.sim.config import ArtifactsConfig, PSFConfig

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
_KERNEL_SUB = 5  # sub-pixels per side used to integrate analytic PSFs over a pixel


def downsample(image: np.ndarray, factor: int, out: np.ndarray | None = None,
               work=None) -> np.ndarray:
    """Mean over ``factor x factor`` blocks: ``(B, n*f, n*f) -> (B, n, n)``.

    Columns are summed by a matrix-vector product (one contiguous pass), then rows by slices.
    ``work`` (a :class:`~lensfind.sim.func.Workspace`) is accepted for API symmetry.
    """
    b, h, w = image.shape
    if out is None:
        out = np.empty((b, h // factor, w // factor), image.dtype)
    if factor == 1:
        np.copyto(out, image)
        return out
    cols = image.reshape(b, h, w // factor, factor) @ np.ones(factor, image.dtype)
    blocks = cols.reshape(b, h // factor, factor, w // factor)
    np.copyto(out, blocks[:, :, 0, :])
    for i in range(1, factor):
        out += blocks[:, :, i, :]
    out *= np.asarray(1.0 / (factor * factor), dtype=out.dtype)
    return out


def _kernel_offsets(size: int, pixel_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel offsets (arcsec) of a ``size x size`` kernel: arrays (1, size*sub, size*sub)."""
    n = size * _KERNEL_SUB
    idx = np.arange(n)
    c = ((idx // _KERNEL_SUB) + ((idx % _KERNEL_SUB) + 0.5) / _KERNEL_SUB - 0.5
         - (size - 1) / 2.0) * pixel_scale
    return c[None, None, :], c[None, :, None]


def _bin_kernel(fine: np.ndarray, size: int) -> np.ndarray:
    k = fine.reshape(-1, size, _KERNEL_SUB, size, _KERNEL_SUB).sum(axis=(2, 4))
    k /= k.sum(axis=(1, 2), keepdims=True)
    return k.astype(np.float32)


def gaussian_kernels_1d(fwhm: np.ndarray, size: int, pixel_scale: float) -> np.ndarray:
    """Pixel-integrated, unit-sum 1-D Gaussians ``(B, size)``; the 2-D PSF is their outer
    product (a pixel-integrated Gaussian is separable)."""
    n = size * _KERNEL_SUB
    idx = np.arange(n)
    c = ((idx // _KERNEL_SUB) + ((idx % _KERNEL_SUB) + 0.5) / _KERNEL_SUB - 0.5
         - (size - 1) / 2.0) * pixel_scale
    sigma = np.asarray(fwhm, dtype=np.float64).reshape(-1, 1) * FWHM_TO_SIGMA
    g = np.exp(-c * c / (2 * sigma * sigma)).reshape(-1, size, _KERNEL_SUB).sum(axis=2)
    return g / g.sum(axis=1, keepdims=True)


def gaussian_kernels(fwhm: np.ndarray, size: int, pixel_scale: float) -> np.ndarray:
    """Pixel-integrated, unit-sum Gaussian PSFs ``(B, size, size)`` for FWHMs [arcsec] ``(B,)``."""
    g = gaussian_kernels_1d(fwhm, size, pixel_scale)
    return (g[:, :, None] * g[:, None, :]).astype(np.float32)


def moffat_kernels(fwhm: np.ndarray, beta: float, size: int, pixel_scale: float) -> np.ndarray:
    """Pixel-integrated, unit-sum Moffat PSFs ``(1 + r^2/alpha^2)^-beta`` with the given FWHMs."""
    x, y = _kernel_offsets(size, pixel_scale)
    alpha = (np.asarray(fwhm, dtype=np.float64).reshape(-1, 1, 1)
             / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0)))
    fine = (1.0 + (x * x + y * y) / (alpha * alpha)) ** (-beta)
    return _bin_kernel(fine, size)


@functools.lru_cache(maxsize=8)
def load_psf_image(path: str) -> np.ndarray:
    """Read a 2-D PSF kernel from ``.fits`` or ``.npy``; unit sum, odd side, float32."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"simulation.psf.image_path = {path!r}: no such file")
    if p.suffix.lower() == ".npy":
        kernel = np.load(p)
    else:
        from astropy.io import fits
        kernel = fits.getdata(p)
    kernel = np.asarray(kernel, dtype=np.float64)
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"simulation.psf.image_path = {path!r}: expected a square 2-D kernel "
                         f"with an odd side, got shape {kernel.shape}")
    if not np.all(np.isfinite(kernel)) or kernel.sum() <= 0:
        raise ValueError(f"simulation.psf.image_path = {path!r}: kernel must be finite with "
                         "positive sum")
    kernel = np.clip(kernel, 0, None)
    return (kernel / kernel.sum()).astype(np.float32)


def psf_kernels(cfg: PSFConfig, fwhm: np.ndarray, pixel_scale: float) -> np.ndarray:
    """PSF kernels for a batch: ``(B, K, K)`` (analytic kinds) or ``(1, K, K)`` (``image``)."""
    if cfg.kind == "gaussian":
        return gaussian_kernels(fwhm, cfg.kernel_size, pixel_scale)
    if cfg.kind == "moffat":
        return moffat_kernels(fwhm, cfg.moffat_beta, cfg.kernel_size, pixel_scale)
    return load_psf_image(cfg.image_path)[None]


def convolve(images: np.ndarray, kernels: np.ndarray,
             kernel_index: np.ndarray | None = None,
             kernels_1d: np.ndarray | None = None) -> np.ndarray:
    """'Same'-size convolution of each image with its kernel (FFT; zero padding outside).

    ``images`` ``(B, n, n)``; ``kernels`` ``(K, k, k)`` with odd ``k``: one per image
    (``K == B``), one for all (``K == 1``), or image ``i`` uses ``kernels[kernel_index[i]]``
    (each kernel is transformed once). If the kernels are separable, ``kernels_1d`` ``(K, k)``
    (with ``kernels[i] = outer(kernels_1d[i], kernels_1d[i])``) gives their transforms from 1-D
    FFTs.
    """
    b, n, m = images.shape
    k = kernels.shape[-1]
    c = k // 2
    shape = (sfft.next_fast_len(n + k - 1, real=True), sfft.next_fast_len(m + k - 1, real=True))
    if kernels_1d is not None:
        g = kernels_1d.astype(images.dtype)
        fk = sfft.fft(g, n=shape[0], axis=-1)[:, :, None] * sfft.rfft(g, n=shape[1], axis=-1)[
            :, None, :]
    else:
        fk = sfft.rfft2(kernels, s=shape)
    out = np.empty_like(images)
    pad = np.zeros((min(b, _FFT_CHUNK),) + shape, images.dtype)
    for start in range(0, b, _FFT_CHUNK):   # small chunks stay in cache: ~1.5x faster
        stop = min(start + _FFT_CHUNK, b)
        m_ = stop - start
        pad[:m_, :n, :m] = images[start:stop]
        fi = sfft.rfft2(pad[:m_])
        if kernel_index is not None:
            fi *= fk[kernel_index[start:stop]]
        elif fk.shape[0] == 1:
            fi *= fk
        else:
            fi *= fk[start:stop]
        out[start:stop] = sfft.irfft2(fi, s=shape)[:, c:c + n, c:c + m]
    return out


_FFT_CHUNK = 8
POISSON_EXACT_BELOW = 50.0


def add_noise(rng: np.random.Generator, signal: np.ndarray, sky: np.ndarray,
              read_noise: float, poisson: bool = True) -> np.ndarray:
    """Sky-subtracted noisy image: ``Poisson(signal + sky) - sky + N(0, read_noise^2)``.

    ``signal`` in electrons ``(B, n, n)``, ``sky`` electrons per pixel ``(B,)``. Shot noise is
    drawn exactly from the Poisson law in pixels whose expected count is below
    ``POISSON_EXACT_BELOW`` and from its Gaussian limit ``N(lambda, lambda)`` above (skewness
    < 0.15 there; 4x faster). Without ``poisson`` the shot noise is Gaussian everywhere.
    """
    skyc = sky.reshape(-1, 1, 1).astype(np.float32)
    lam = signal + skyc
    np.maximum(lam, 0, out=lam)
    z = rng.standard_normal(lam.shape, dtype=np.float32)
    rn2 = np.float32(read_noise) ** 2
    out = np.sqrt(lam + rn2)        # shot + read noise in one Gaussian draw
    out *= z
    out += lam
    if poisson:
        low = lam < POISSON_EXACT_BELOW
        if low.any():
            counts = rng.poisson(lam[low].astype(np.float64)).astype(np.float32)
            out[low] = counts + np.float32(read_noise) * z[low]
    out -= skyc
    return out


def noise_variance(signal: np.ndarray, sky: np.ndarray, read_noise: float) -> np.ndarray:
    """Expected per-pixel variance [e-^2] of :func:`add_noise`."""
    return (np.maximum(signal, 0) + sky.reshape(-1, 1, 1).astype(np.float32)
            + np.float32(read_noise) ** 2)


def add_artifacts(rng: np.random.Generator, images: np.ndarray, cfg: ArtifactsConfig,
                  noise_scale: np.ndarray) -> None:
    """In place: cosmic rays, hot pixels and masked pixels (value 0).

    ``noise_scale`` ``(B,)`` is the typical background noise [e-] used to set amplitudes.
    Draws a fixed sequence of random numbers for a given batch (deterministic).
    """
    b, n, _ = images.shape
    n_cr = rng.poisson(cfg.cosmic_rays, size=b)
    n_hot = rng.poisson(cfg.hot_pixels, size=b)
    masked = rng.random(b) < cfg.mask_probability
    for i in range(b):
        scale = float(noise_scale[i])
        for _ in range(int(n_cr[i])):
            x0, y0 = rng.uniform(0, n, size=2)
            length = rng.uniform(*cfg.cosmic_ray_length)
            ang = rng.uniform(0, np.pi)
            amp = scale * rng.uniform(*cfg.cosmic_ray_amplitude)
            t = np.arange(0.0, length + 0.5, 0.5)
            xs = np.clip((x0 + t * np.cos(ang)).astype(int), 0, n - 1)
            ys = np.clip((y0 + t * np.sin(ang)).astype(int), 0, n - 1)
            pix = np.unique(ys * n + xs)
            images[i].reshape(-1)[pix] += np.float32(amp) * rng.uniform(0.5, 1.0, pix.size
                                                                         ).astype(np.float32)
        if n_hot[i]:
            pix = rng.integers(0, n * n, size=int(n_hot[i]))
            amps = scale * rng.uniform(*cfg.hot_pixel_amplitude, size=pix.size)
            images[i].reshape(-1)[pix] += amps.astype(np.float32)
        if masked[i]:
            kind = rng.integers(0, 3)
            if kind == 0:  # bad column (full or partial)
                c = rng.integers(0, n)
                start = rng.integers(0, n // 2) if rng.random() < 0.5 else 0
                images[i, start:, c] = 0
            elif kind == 1:  # gap along one edge
                w = rng.integers(2, max(3, n // 8))
                side = rng.integers(0, 4)
                if side == 0:
                    images[i, :w, :] = 0
                elif side == 1:
                    images[i, -w:, :] = 0
                elif side == 2:
                    images[i, :, :w] = 0
                else:
                    images[i, :, -w:] = 0
            else:  # scattered dead pixels
                dead = rng.random((n, n)) < rng.uniform(*cfg.dead_pixel_fraction)
                images[i][dead] = 0
