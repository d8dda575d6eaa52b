"""Pixel likelihood of a model image: shot (Poisson) + sky + read noise, as the simulator draws it.

:func:`lensfind.sim.observe.add_noise` draws ``Poisson(signal + sky) - sky + N(0, read_noise^2)``
on sky-subtracted images in electrons; its Gaussian limit, with the model-dependent variance
``max(model, 0) + sky + read_noise^2`` (:func:`lensfind.sim.observe.noise_variance`), is the
likelihood here. A fixed per-pixel ``noise_map`` (sigma, image units) replaces that variance when
the image comes with one.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from keras import ops

from lensfind.validation import fail

#: image units the Poisson noise model applies to (counts, not rates or calibrated fluxes)
COUNT_UNITS = ("electron", "electrons", "e-")


@dataclasses.dataclass(frozen=True)
class NoiseModel:
    """Noise of one sky-subtracted cutout: ``sky`` [units/pixel] and ``read_noise`` [units] for
    the Poisson model, which needs counts (``units`` one of :data:`COUNT_UNITS`), or a
    ``noise_map`` (per-pixel sigma in ``units``) instead."""

    sky: float = 0.0
    read_noise: float = 0.0
    units: str = "electron"
    noise_map: np.ndarray | None = None

    def check(self, image_units: str, where: str) -> None:
        """Refuse a noise model whose units are not the image's (``where`` names the row)."""
        if self.noise_map is None and self.units.lower() not in COUNT_UNITS:
            fail(f"{where}: noise units", self.units,
                 f"counts ({', '.join(COUNT_UNITS)}) for the Poisson + read noise model, or a "
                 "noise map")
        if self.units.lower() != str(image_units).lower() and not (
                self.units.lower() in COUNT_UNITS and str(image_units).lower() in COUNT_UNITS):
            fail(f"{where}: image units (BUNIT)", image_units,
                 f"the noise model's units, {self.units!r}")
        if self.noise_map is None and (self.sky < 0 or self.read_noise < 0):
            fail(f"{where}: sky, read_noise", (self.sky, self.read_noise), "values >= 0")

    def variance_terms(self, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The pixel variance as ``weight * max(model, 0) + base``: ``(weight (), base shape)``
        float32 -- 1 and ``sky + read_noise^2`` for the Poisson model, 0 and ``noise_map^2``."""
        if self.noise_map is not None:
            return np.float32(0.0), np.asarray(self.noise_map, np.float32) ** 2
        return np.float32(1.0), np.full(shape, self.sky + self.read_noise ** 2, np.float32)

    def variance(self, model: np.ndarray) -> np.ndarray:
        """The pixel variance of model images ``model (..., n, n)`` (NumPy, float64):
        ``weight * max(model, 0) + base`` (:meth:`variance_terms`)."""
        weight, base = self.variance_terms(np.shape(model)[-2:])
        return weight * np.maximum(np.asarray(model, np.float64), 0.0) + base


def log_likelihood(model, data, weight, base):
    """Gaussian log-likelihood ``(B,)`` of images ``model (B, n, n)`` given ``data (n, n)``,
    constants included; variance ``weight * max(model, 0) + base`` (
    :meth:`NoiseModel.variance_terms`). Tensors or arrays of the model's backend."""
    var = weight * ops.maximum(model, 0.0) + base
    resid = data - model
    return -0.5 * ops.sum(resid * resid / var + ops.log(var) + math.log(2 * math.pi),
                          axis=(1, 2))
