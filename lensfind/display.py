"""How cutouts are shown in every picture lensfind draws: one asinh stretch.

Used by the data-set gallery (:mod:`lensfind.data.gallery`), the top-N grid of a scoring run
(:mod:`lensfind.score.report`) and the det-Sigma extremes of the regression plots
(:mod:`lensfind.evaluate.regression_plots`), so the same cutout looks the same in all of them.
Only NumPy is imported; the callers bring matplotlib.
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
