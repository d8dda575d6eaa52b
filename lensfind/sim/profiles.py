"""Light profiles, batched over images: elliptical Sersic, rings, knots, spiral discs.

All profiles return surface brightness (flux per arcsec^2) on ``(B, n, n)`` grids; parameters are
``(B,)`` arrays (see :mod:`lensfind.sim.func` for coordinates and ellipticity conventions).

Sersic convention (lenstronomy ``SERSIC_ELLIPSE`` with its default product-average radius):
``I = amp * exp(-b_n ((R / R_sersic)^(1/n) - 1))`` with ``R = sqrt(q x'^2 + y'^2 / q)`` in the
major-axis frame, ``b_n = 1.9992 n - 0.3271`` and ``R`` floored at 1e-4 arcsec; ``amp`` is the
surface brightness at ``R_sersic``. The map ``(x', y') -> R`` has unit Jacobian, so the total flux
is ``2 pi n R_sersic^2 exp(b_n) b_n^(-2n) Gamma(2n) amp`` whatever ``q``.
"""
from __future__ import annotations

import numpy as np
from scipy import special

from lensfind.sim.func import col, e_to_phi_q

_R_FLOOR2 = 1e-8  # (1e-4 arcsec)^2, as lenstronomy


def b_n(n):
    """lenstronomy's approximation of the Sersic b_n."""
    return np.maximum(1.9992 * np.asarray(n, dtype=np.float64) - 0.3271, 1e-5)


def sersic_total_flux(amp, r_sersic, n_sersic):
    """Total flux of an elliptical Sersic profile (independent of the axis ratio)."""
    n = np.asarray(n_sersic, dtype=np.float64)
    bn = b_n(n)
    r = np.asarray(r_sersic, dtype=np.float64)
    return (np.asarray(amp, dtype=np.float64) * 2 * np.pi * n * r * r * np.exp(bn)
            * bn ** (-2 * n) * special.gamma(2 * n))


def sersic_amp(flux, r_sersic, n_sersic):
    """Amplitude (surface brightness at R_sersic) that gives total ``flux``."""
    return np.asarray(flux, dtype=np.float64) / sersic_total_flux(1.0, r_sersic, n_sersic)


def _quadratic_form(e1, e2):
    """Coefficients (a, b, c) of R^2 = a dx^2 + b dx dy + c dy^2 (lenstronomy product average)."""
    e1 = np.asarray(e1, dtype=np.float64)
    e2 = np.asarray(e2, dtype=np.float64)
    norm2 = np.maximum(np.abs(1 - e1 ** 2 - e2 ** 2), 1e-6)
    a = ((1 - e1) ** 2 + e2 ** 2) / norm2
    c = ((1 + e1) ** 2 + e2 ** 2) / norm2
    b = -4 * e2 / norm2
    return a, b, c


def quadratic_columns(e1, e2, scale=1.0, dtype=np.float32):
    """``(B, 1, 1)`` columns ``(a, b, c) / scale^2`` of
    ``(R/scale)^2 = a dx^2 + b dx dy + c dy^2``."""
    a, b, c = _quadratic_form(e1, e2)
    s2 = np.asarray(scale, dtype=np.float64) ** 2
    return col(a / s2, dtype), col(b / s2, dtype), col(c / s2, dtype)


def elliptical_r2(x, y, e1, e2, center_x, center_y, scale=1.0, out=None, work=None):
    """``(R / scale)^2`` with ``R = sqrt(q x'^2 + y'^2 / q)`` about the centre.

    ``x`` and ``y`` may be ``(1, 1, n)`` / ``(1, n, 1)`` (a regular grid: cheap broadcasting) or
    full ``(B, n, n)`` arrays (ray-shot positions). ``center_*`` may be None (already centred).
    ``out`` receives the result and ``work`` (a :class:`~lensfind.sim.func.Workspace`) gives
    scratch space, so that nothing full-size is allocated.
    """
    dtype = np.result_type(x, np.float32)
    a, b, c = _quadratic_form(e1, e2)
    s2 = np.asarray(scale, dtype=np.float64) ** 2
    dx = x if center_x is None else x - col(center_x, dtype)
    dy = y if center_y is None else y - col(center_y, dtype)
    shape = np.broadcast_shapes(dx.shape, dy.shape, (len(a), 1, 1))
    r2 = np.empty(shape, dtype) if out is None else out
    if dx.shape == shape and dy.shape == shape:   # full arrays: R^2 = dx (a dx + b dy) + c dy^2
        tmp = np.empty(shape, dtype) if work is None else work.get("r2_tmp", shape)
        np.multiply(dx, col(a / s2, dtype), out=r2)
        np.multiply(dy, col(b / s2, dtype), out=tmp)
        r2 += tmp
        r2 *= dx
        np.multiply(dy, dy, out=tmp)
        tmp *= col(c / s2, dtype)
        r2 += tmp
        return r2
    np.multiply(col(b / s2, dtype) * dx, dy, out=r2)   # grid: one full-size product
    r2 += col(a / s2, dtype) * (dx * dx)
    r2 += col(c / s2, dtype) * (dy * dy)
    return r2


def sersic(x, y, amp, r_sersic, n_sersic, e1, e2, center_x, center_y, out=None, work=None):
    """Elliptical Sersic surface brightness (lenstronomy ``SERSIC_ELLIPSE``).

    ``center_*`` may be None when ``x, y`` are already offsets from the centre; ``out`` and
    ``work`` as in :func:`elliptical_r2`.
    """
    r2 = elliptical_r2(x, y, e1, e2, center_x, center_y,
                       scale=sersic_radius_scale(r_sersic, n_sersic), out=out, work=work)
    return sersic_from_r2(r2, sersic_setup(amp, r_sersic, n_sersic, r2.dtype))


def sersic_radius_scale(r_sersic, n_sersic):
    """The length ``s`` for which ``(R / s)^(1/n) = b_n (R / R_sersic)^(1/n)``: radii are
    measured in units of ``s`` so that :func:`sersic_from_r2` saves a multiplication pass."""
    r = np.maximum(np.asarray(r_sersic, dtype=np.float64), 1e-4)   # lenstronomy's floor
    n = np.asarray(n_sersic, dtype=np.float64)
    return r * b_n(n) ** (-n)


def sersic_setup(amp, r_sersic, n_sersic, dtype=np.float32) -> dict[str, np.ndarray]:
    """Per-image constants of :func:`sersic_from_r2` as ``(B, 1, 1)`` columns."""
    n = np.asarray(n_sersic, dtype=np.float64)
    s = sersic_radius_scale(r_sersic, n)
    logc = np.log(np.maximum(np.asarray(amp, dtype=np.float64), 1e-300)) + b_n(n)
    return {"floor": col(_R_FLOOR2 / s ** 2, dtype), "expo": col(0.5 / n, dtype),
            "logc": col(logc, dtype)}


def sersic_from_r2(r2, setup: dict):
    """In place: ``(R / s)^2`` (``s`` from :func:`sersic_radius_scale`) -> Sersic surface
    brightness ``amp exp(b_n - (R/s)^(1/n))``, R floored at 1e-4 arcsec as lenstronomy.
    ``setup`` from :func:`sersic_setup`."""
    np.maximum(r2, setup["floor"], out=r2)
    out = np.power(r2, setup["expo"], out=r2)            # b_n (R / R_sersic)^(1/n)
    np.subtract(setup["logc"], out, out=out)
    np.exp(out, out=out)
    return out


def gaussian_ring(x, y, amp, radius, width, e1, e2, center_x, center_y, clump_amp=None,
                  clump_m=None, clump_phase=None):
    """Elliptical Gaussian ring ``amp * exp(-(R - radius)^2 / (2 width^2))``, optionally clumpy
    (multiplied by ``1 + clump_amp * cos(m theta + phase)``, clipped at 0)."""
    dtype = np.result_type(x, np.float32)
    r = np.sqrt(elliptical_r2(x, y, e1, e2, center_x, center_y))
    r -= col(radius, dtype)
    r *= col(1.0 / np.asarray(width, dtype=np.float64), dtype)
    r *= r
    r *= -0.5
    out = np.exp(r, out=r)
    if clump_amp is not None:
        theta = _angle(x, y, e1, e2, center_x, center_y, dtype)
        mod = np.cos(col(clump_m, dtype) * theta + col(clump_phase, dtype))
        mod *= col(clump_amp, dtype)
        mod += 1
        np.maximum(mod, 0, out=mod)
        out *= mod
    out *= col(amp, dtype)
    return out


def gaussian_knots(x, y, flux, sigma, center_x, center_y):
    """Sum of circular Gaussians ``flux / (2 pi sigma^2) exp(-r^2 / (2 sigma^2))``: compact
    knots (star-forming clumps). ``flux``, ``sigma`` [arcsec] and centres [arcsec] are
    ``(B, K)``; ``x`` and ``y`` the regular grid ``(1, 1, n)`` and ``(1, n, 1)`` of
    :func:`lensfind.sim.func.grid` (each Gaussian is separable: ``O(B K n)`` exponentials)."""
    dtype = np.result_type(x, np.float32)
    sigma = np.asarray(sigma, dtype=np.float64)
    inv = (1.0 / (np.sqrt(2.0) * sigma))[..., None].astype(dtype)
    gx = np.exp(-np.square((x.reshape(1, 1, -1) - np.asarray(center_x, dtype)[..., None]) * inv))
    gy = np.exp(-np.square((y.reshape(1, 1, -1) - np.asarray(center_y, dtype)[..., None]) * inv))
    gy *= (np.asarray(flux, dtype=np.float64) / (2 * np.pi * sigma ** 2))[..., None].astype(dtype)
    return np.einsum("bki,bkj->bij", gy, gx)


def _angle(x, y, e1, e2, center_x, center_y, dtype):
    """Polar angle in the galaxy's major-axis frame, circularised."""
    phi, q = e_to_phi_q(e1, e2)
    c, s = col(np.cos(phi), dtype), col(np.sin(phi), dtype)
    dx = x - col(center_x, dtype)
    dy = y - col(center_y, dtype)
    xr = c * dx + s * dy
    yr = (c * dy - s * dx) / col(q, dtype)
    return np.arctan2(yr, xr)


def spiral_disc(x, y, amp, scale_length, e1, e2, center_x, center_y, arms, pitch, phase,
                arm_contrast, arm_sharpness=2.0):
    """Exponential disc ``amp exp(-R/h)`` modulated by logarithmic spiral arms.

    The modulation is ``(1 - c) + c * ((1 + cos(m (theta - ln(R/h) / tan(pitch)) + phase)) / 2)^k``
    with ``m`` = ``arms``, ``c`` = ``arm_contrast``, ``k`` = ``arm_sharpness``.
    """
    dtype = np.result_type(x, np.float32)
    h = np.asarray(scale_length, dtype=np.float64)
    r2 = elliptical_r2(x, y, e1, e2, center_x, center_y, scale=h)
    np.maximum(r2, np.asarray(1e-6, dtype=dtype), out=r2)
    r = np.sqrt(r2)
    disc = np.exp(-r)
    theta = _angle(x, y, e1, e2, center_x, center_y, dtype)
    wind = np.log(r, out=r)
    wind *= col(1.0 / np.tan(np.asarray(pitch, dtype=np.float64)), dtype)
    arg = theta - wind
    arg *= col(arms, dtype)
    arg += col(phase, dtype)
    mod = np.cos(arg, out=arg)
    mod += 1
    mod *= 0.5
    mod **= np.asarray(arm_sharpness, dtype=dtype)
    cc = col(arm_contrast, dtype)
    mod *= cc
    mod += 1 - cc
    disc *= mod
    disc *= col(amp, dtype)
    return disc


def exponential_disc_flux(amp, scale_length):
    """Total flux of ``amp exp(-R/h)``: ``2 pi h^2 amp`` (unit-Jacobian elliptical radius)."""
    h = np.asarray(scale_length, dtype=np.float64)
    return 2 * np.pi * h * h * np.asarray(amp, dtype=np.float64)


def gaussian_ring_flux(amp, radius, width):
    """Approximate total flux of an unmodulated Gaussian ring (radius >> width)."""
    r = np.asarray(radius, dtype=np.float64)
    w = np.asarray(width, dtype=np.float64)
    return np.asarray(amp, dtype=np.float64) * 2 * np.pi * r * w * np.sqrt(2 * np.pi)
