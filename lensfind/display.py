"""How cutouts are shown in every picture lensfind draws: one asinh stretch, or one colour
composite for 3 bands.

Used by the data-set gallery (:mod:`lensfind.data.gallery`), the top-N grid of a scoring run
(:mod:`lensfind.score.report`) and the det-Sigma extremes of the regression plots
(:mod:`lensfind.evaluate.regression_plots`), so the same cutout looks the same in all of them.
3-band cutouts are shown as Lupton RGB composites (:func:`colour_composite`, astropy imported
there); :func:`show` picks. Only NumPy is imported at module level; the callers bring matplotlib.
"""
from __future__ import annotations

import numpy as np


def asinh_stretch(image: np.ndarray, *, soft: float = 2.0, upper: float = 99.7) -> np.ndarray:
    """Image scaled to [0, 1] with an asinh stretch around the sky level.

    The sky level and noise are the median and MAD-sigma of the image; ``soft`` (in noise sigmas)
    is where the stretch turns from linear to logarithmic, ``upper`` the percentile shown white.

    Units: ``image`` is in any linear flux unit (counts, electrons/s, ...; only differences from
    the sky over its noise matter, so scaling the image leaves the result unchanged); ``soft`` is
    in units of the image's noise sigma; ``upper`` is a percentile (0-100) of the stretched
    pixels; the result is dimensionless display brightness, 0 (black: 2 sigma below the sky or
    darker) to 1 (white). NaN pixels are shown at the sky level; an image without finite pixels
    gives zeros.
    """
    img = np.asarray(image, np.float64)
    finite = img[np.isfinite(img)]
    if finite.size == 0:
        return np.zeros_like(img)
    sky = np.median(finite)
    sigma = 1.4826 * np.median(np.abs(finite - sky))
    if not sigma > 0:
        sigma = max(float(np.std(finite)), 1e-12)
    x = np.arcsinh((np.nan_to_num(img, nan=sky) - sky) / (soft * sigma))
    lo = np.arcsinh(-2.0 / soft)  # 2 sigma below the sky is black
    hi = max(float(np.percentile(x, upper)), lo + 1e-6)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def _sky_sigma(image: np.ndarray) -> tuple[float, float]:
    """Median and MAD-sigma of the finite pixels (sky level and noise)."""
    finite = image[np.isfinite(image)]
    if finite.size == 0:
        return 0.0, 1.0
    sky = float(np.median(finite))
    sigma = 1.4826 * float(np.median(np.abs(finite - sky)))
    return sky, sigma if sigma > 0 else max(float(np.std(finite)), 1e-12)


def colour_composite(image: np.ndarray, *, q: float = 8.0, upper: float = 99.7) -> np.ndarray:
    """RGB picture ``(H, W, 3)`` in [0, 1] of a 3-band cutout ``(H, W, 3)`` whose channels run
    from the bluest to the reddest band (g, r, i: i is red, g blue).

    Each band has its sky (median) subtracted and is divided by its noise (MAD-sigma), so every
    band shows its noise alike and colours within a cutout keep their relative fluxes; then
    ``astropy.visualization.make_lupton_rgb`` (Lupton et al. 2004, PASP 116, 133) with softening
    ``q`` and ``stretch`` the ``upper`` percentile of the mean band (units: noise sigmas).
    """
    from astropy.visualization import make_lupton_rgb
    img = np.asarray(image, np.float64)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image of shape {img.shape} is invalid: expected (H, W, 3)")
    bands = []
    for c in range(3):
        sky, sigma = _sky_sigma(img[..., c])
        bands.append(np.nan_to_num((img[..., c] - sky) / sigma, nan=0.0))
    stretch = max(float(np.percentile(np.mean(bands, axis=0), upper)), 1e-6)
    rgb = make_lupton_rgb(bands[2], bands[1], bands[0], minimum=0.0, stretch=stretch, Q=q)
    return rgb.astype(np.float64) / 255.0


def show(image: np.ndarray) -> np.ndarray:
    """What a picture shows of a cutout: :func:`asinh_stretch` of a single band ``(H, W)``,
    :func:`colour_composite` of 3 bands ``(H, W, 3)``, else the stretch of the bands' mean."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 3:
        return colour_composite(img)
    return asinh_stretch(img.mean(axis=-1) if img.ndim == 3 else img)
