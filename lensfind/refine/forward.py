"""Differentiable forward model in ``keras.ops`` (TensorFlow and JAX backends).

SIE + external shear, elliptical Sersic source and lens light, pixel integration by
supersampling and PSF convolution: the noiseless image of :mod:`lensfind.sim.simulate` for a lens
with Sersic light, written with backend ops so that it can be differentiated and sampled.

The conventions are those of :mod:`lensfind.sim.func` (coordinates, ellipticity, SIE, shear)
and :mod:`lensfind.sim.profiles` (Sersic). The NumPy simulator computes the same maths fused and
in place for speed; ``tests/refine/test_forward.py`` ties the two together pixel by pixel.

Parameters are a ``(B, P)`` tensor in the order of :data:`PARAMETERS`; amplitudes are natural
logs of the surface brightness at the half-light radius, ``ln(e- / arcsec^2)``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops
from keras.backend import standardize_dtype
from scipy import fft as sfft

#: parameter name -> unit; the order of the columns of a parameter tensor
PARAMETERS: dict[str, str] = {
    "theta_e": "arcsec", "e1": "", "e2": "", "center_x": "arcsec", "center_y": "arcsec",
    "g1": "", "g2": "",
    "source_x": "arcsec", "source_y": "arcsec", "source_log_amp": "ln(e-/arcsec^2)",
    "source_r_sersic": "arcsec", "source_n_sersic": "", "source_e1": "", "source_e2": "",
    "light_x": "arcsec", "light_y": "arcsec", "light_log_amp": "ln(e-/arcsec^2)",
    "light_r_sersic": "arcsec", "light_n_sersic": "", "light_e1": "", "light_e2": "",
}
NAMES = tuple(PARAMETERS)
LENS_NAMES = NAMES[:7]

_K_MIN = 1e-6        # as lensfind.sim.func
_PSI_FLOOR2 = 1e-24  # psi^2 floor [arcsec^2]: finite gradients at the lens centre
_E_FLOOR2 = 1e-24    # |e|^2 floor: finite gradients of the position angle at e = 0
_R_FLOOR2 = 1e-8     # (1e-4 arcsec)^2, Sersic radius floor (lenstronomy, lensfind.sim.profiles)


@dataclasses.dataclass(frozen=True)
class Observation:
    """Pixel grid and PSF of one cutout: ``size`` pixels of ``pixel_scale`` arcsec, surface
    brightness integrated on ``supersampling^2`` sub-pixels, ``psf`` a unit-sum odd-sided
    ``(k, k)`` kernel (as :func:`lensfind.sim.observe.psf_kernels`).

    ``margin`` [pixels] is rendered beyond every edge, convolved with the PSF and cut off again:
    0 treats the sky outside the cutout as dark (zero padding, as lensfind's simulator draws its
    cutouts), ``k // 2`` (:meth:`with_sky_margin`) lets light from outside spill in as it does on
    a real image or a crop of a larger one."""

    size: int
    pixel_scale: float
    supersampling: int
    psf: np.ndarray
    margin: int = 0

    @property
    def rendered(self) -> int:
        """Side of the rendered grid [pixels], margins included."""
        return self.size + 2 * self.margin

    def with_sky_margin(self) -> "Observation":
        """This observation with a margin of the PSF's half-width."""
        return dataclasses.replace(self, margin=int(np.shape(self.psf)[0]) // 2)

    def grid(self, dtype: str = "float32"):
        """Sub-pixel centres ``(x (1, 1, m), y (1, m, 1))`` of the rendered grid, margins
        included, in arcsec (lensfind.sim.func)."""
        s, n = self.supersampling, self.rendered
        idx = np.arange(n * s, dtype=np.float64)
        c = (idx // s + (idx % s + 0.5) / s - 0.5 - (n - 1) / 2.0) * self.pixel_scale
        c = c.astype(dtype)
        return ops.convert_to_tensor(c[None, None, :]), ops.convert_to_tensor(c[None, :, None])


def _col(values):
    """``(B,)`` -> ``(B, 1, 1)``."""
    return ops.reshape(values, (-1, 1, 1))


def phi_q(e1, e2):
    """(e1, e2) -> position angle [rad] and axis ratio, ``|e|`` clipped at 0.9999
    (:func:`lensfind.sim.func.e_to_phi_q`)."""
    c = ops.minimum(ops.sqrt(e1 * e1 + e2 * e2 + _E_FLOOR2), 0.9999)
    return ops.arctan2(e2, e1) / 2, (1 - c) / (1 + c)


def sie_shear_ray_shoot(x, y, theta_e, e1, e2, center_x, center_y, g1, g2):
    """Source-plane positions ``theta - alpha_SIE - alpha_shear`` (lensfind.sim.func SIE and
    SHEAR conventions; shear about the lens centre). Parameters ``(B,)``; returns ``(B, n, n)``."""
    phi, q = phi_q(e1, e2)
    k = ops.maximum(ops.sqrt(ops.maximum(1 - q * q, 0.0)), _K_MIN)
    c, s = _col(ops.cos(phi)), _col(ops.sin(phi))
    bk = _col(theta_e * ops.sqrt(q) / k)
    q, k = _col(q), _col(k)
    dx = x - _col(center_x)
    dy = y - _col(center_y)
    xr = c * dx + s * dy
    yr = c * dy - s * dx
    psi = ops.sqrt(q * q * xr * xr + yr * yr + _PSI_FLOOR2)
    ax = bk * ops.arctan(k * xr / psi)
    ay = bk * ops.arctanh(k * yr / psi)
    g1, g2 = _col(g1), _col(g2)
    bx = x - (c * ax - s * ay) - (g1 * dx + g2 * dy)
    by = y - (s * ax + c * ay) - (g2 * dx - g1 * dy)
    return bx, by


def b_n(n):
    """lenstronomy's Sersic ``b_n = 1.9992 n - 0.3271`` (floored at 1e-5)."""
    return ops.maximum(1.9992 * n - 0.3271, 1e-5)


def sersic(x, y, log_amp, r_sersic, n_sersic, e1, e2, center_x, center_y):
    """Elliptical Sersic surface brightness ``amp exp(-b_n ((R / R_sersic)^(1/n) - 1))``
    (lenstronomy ``SERSIC_ELLIPSE``, product-average ``R = sqrt(q x'^2 + y'^2 / q)`` floored at
    1e-4 arcsec, ``R_sersic`` floored at 1e-4 arcsec; lensfind.sim.profiles.sersic).
    ``log_amp = ln(amp)``, amp in flux / arcsec^2; parameters ``(B,)``."""
    norm2 = ops.maximum(ops.abs(1 - e1 * e1 - e2 * e2), 1e-6)
    a = _col(((1 - e1) ** 2 + e2 * e2) / norm2)
    b = _col(-4 * e2 / norm2)
    c = _col(((1 + e1) ** 2 + e2 * e2) / norm2)
    dx = x - _col(center_x)
    dy = y - _col(center_y)
    r2 = a * dx * dx + b * dx * dy + c * dy * dy
    r2 = ops.maximum(r2, _R_FLOOR2)
    bn = b_n(n_sersic)
    r = ops.maximum(r_sersic, 1e-4)
    ratio2 = r2 / _col(r * r)
    return ops.exp(_col(log_amp + bn) - _col(bn) * ops.power(ratio2, _col(0.5 / n_sersic)))


def pixelate(brightness, observation: Observation):
    """Surface brightness on the sub-pixel grid ``(B, m s, m s)`` -> flux per pixel
    ``(B, m, m)`` (``m`` = ``observation.rendered``): the mean over each pixel's sub-pixels times
    the pixel area."""
    s, n = observation.supersampling, observation.rendered
    blocks = ops.reshape(brightness, (-1, n, s, n, s))
    return ops.mean(blocks, axis=(2, 4)) * observation.pixel_scale ** 2


def convolve(images, psf):
    """'Same'-size convolution (zero padding outside) of ``(B, n, n)`` images with one odd-sided
    kernel ``(k, k)``, an array or a tensor, by FFT on a grid of at least ``n + k - 1`` (as
    :func:`lensfind.sim.observe.convolve`). XLA's direct convolution of one-channel images with
    a 15 x 15 kernel on CPU was 20-30x slower than this (JAX backend; TensorFlow's about 2x)."""
    n, k = int(images.shape[-1]), int(psf.shape[-1])
    size = sfft.next_fast_len(n + k - 1)
    pad = size - n
    image = ops.pad(images, ((0, 0), (0, pad), (0, pad)))
    kernel = ops.convert_to_tensor(psf, standardize_dtype(images.dtype))
    kernel = ops.pad(kernel, ((0, size - k), (0, size - k)))[None]
    ir, ii = ops.fft2((image, ops.zeros_like(image)))
    kr, ki = ops.fft2((kernel, ops.zeros_like(kernel)))
    out, _ = ops.ifft2((ir * kr - ii * ki, ir * ki + ii * kr))
    return out[:, k // 2:k // 2 + n, k // 2:k // 2 + n]


def columns(params) -> dict:
    """``(B, P)`` parameter tensor -> name -> ``(B,)`` tensor."""
    return {name: params[:, i] for i, name in enumerate(NAMES)}


def render_parts(params, observation: Observation, grid=None, psf=None):
    """Noiseless, PSF-convolved lens light and lensed source in flux per pixel:
    ``(light (B, n, n), source (B, n, n))``, in the dtype of ``params``. ``grid`` is
    ``observation.grid(dtype)`` (pass it to avoid rebuilding it); ``psf`` (a tensor, for compiled
    functions that take it as an argument) replaces ``observation.psf``."""
    psf = observation.psf if psf is None else psf
    x, y = observation.grid(standardize_dtype(params.dtype)) if grid is None else grid
    p = columns(params)
    bx, by = sie_shear_ray_shoot(x, y, p["theta_e"], p["e1"], p["e2"], p["center_x"],
                                 p["center_y"], p["g1"], p["g2"])
    source = sersic(bx, by, *(p[f"source_{k}"] for k in ("log_amp", "r_sersic", "n_sersic",
                                                          "e1", "e2", "x", "y")))
    light = sersic(x, y, *(p[f"light_{k}"] for k in ("log_amp", "r_sersic", "n_sersic", "e1",
                                                      "e2", "x", "y")))
    m, n = observation.margin, observation.size
    return tuple(convolve(pixelate(part, observation), psf)[:, m:m + n, m:m + n]
                 for part in (light, source))


def render(params, observation: Observation, grid=None, psf=None):
    """Noiseless model image ``(B, n, n)`` in flux per pixel (light + lensed source); arguments
    as :func:`render_parts`."""
    light, source = render_parts(params, observation, grid, psf)
    return light + source
