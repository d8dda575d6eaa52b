"""Simulated lenses in the forward model's terms: true parameter vectors, observation and noise.

A lens of :func:`lensfind.sim.simulate.simulate` with Sersic source and lens light (no real-galaxy
stamps, no substructure) is exactly :func:`lensfind.refine.forward.render` of :func:`truth`.
"""
from __future__ import annotations

import numpy as np

from lensfind.refine.forward import NAMES, Observation
from lensfind.refine.likelihood import NoiseModel
from lensfind.sim import observe, profiles
from lensfind.sim.config import SimConfig
from lensfind.sim.simulate import flux_from_magnitude
from lensfind.validation import fail


def clean_config(*, size: int, pixel_scale: float, n_lenses: int, supersampling: int = 1,
                 **changes) -> SimConfig:
    """Lenses the forward model renders exactly: Sersic source and lens light, no field
    galaxies and no detector artifacts; ``changes`` are further :meth:`SimConfig.replace`
    tables (e.g. ``noise={"enabled": False}``)."""
    tables = {"source": {"kind": "sersic"}, "lens_light": {"kind": "sersic"},
              "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0}}
    for name, table in changes.items():
        tables[name] = {**tables.get(name, {}), **table}
    return SimConfig(size=size, pixel_scale=pixel_scale, supersampling=supersampling,
                     n_lenses=n_lenses, n_nonlenses=0, field_galaxies=0.0).replace(**tables)


def truth(params: dict, row: int, config: SimConfig) -> np.ndarray:
    """The parameter vector ``(P,)`` (order :data:`~lensfind.refine.forward.NAMES`) of lens
    ``row`` of a simulated set's ``params``; refused for a non-lens or a real-galaxy image."""
    p = {name: float(values[row]) for name, values in params.items()}
    if not np.isfinite(p["theta_e"]) or p.get("source_real") or p.get("light_real"):
        fail(f"simulated row {row}: theta_e, source_real, light_real",
             (p["theta_e"], p.get("source_real"), p.get("light_real")),
             "a lens with Sersic source and lens light")
    values = dict(p)
    for part in ("source", "light"):
        flux = flux_from_magnitude(p[f"{part}_mag"], p["exposure_time"], config.noise.zero_point)
        amp = profiles.sersic_amp(flux, p[f"{part}_r_sersic"], p[f"{part}_n_sersic"])
        values[f"{part}_log_amp"] = float(np.log(amp))
    return np.array([values[name] for name in NAMES], np.float64)


def observation(params: dict, row: int, config: SimConfig) -> Observation:
    """Grid and PSF kernel of simulated image ``row``."""
    kernel = observe.psf_kernels(config.psf, np.array([params["psf_fwhm"][row]]),
                                 config.pixel_scale)[0]
    return Observation(config.size, config.pixel_scale, config.supersampling, kernel)


def noise_model(params: dict, row: int, config: SimConfig) -> NoiseModel:
    """The simulator's noise of image ``row``: sky [e-/pixel] and read noise [e-], electrons."""
    return NoiseModel(sky=float(params["sky"][row]), read_noise=config.noise.read_noise,
                      units="electron")
