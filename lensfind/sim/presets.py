"""Survey presets: ``simulation.preset = "<name>"`` fills the ``[simulation]`` table with a
survey's pixel scale, cutout size and bands; settings written in the experiment file win.

One table, :data:`PRESETS`, drives the loader (:func:`expand_preset`), the docs and the tests.
Numbers are per band: AB zero point for 1 e-/s, exposure [s] (a coadd's total), sky
[AB mag/arcsec^2], read noise [e-] combined over the coadded exposures (per-exposure noise times
sqrt(number of exposures)) and PSF FWHM [arcsec]. Sources are in the comments; zero points
marked "scaled" are LSST's (Ivezic et al. 2019, ApJ 873, 111, Table 2 era throughputs) scaled by
collecting area, an approximation. The survey presets are coadds, whose stacking rejects cosmic
rays: they set ``[simulation.artifacts] cosmic_rays = 0`` (:data:`COADD_ARTIFACTS`); hot pixels
and masks stay.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lensfind.validation import lookup


def _band(name, zero_point, exposure, sky, read_noise, fwhm) -> dict[str, Any]:
    return {"name": name, "zero_point": zero_point, "exposure_time": list(exposure),
            "sky_magnitude": list(sky), "read_noise": read_noise, "psf_fwhm": list(fwhm)}


#: the ``[simulation.artifacts]`` of a coadd: cosmic rays are rejected by the stacking
COADD_ARTIFACTS: dict[str, Any] = {"cosmic_rays": 0.0}

#: preset name -> the ``[simulation]`` settings it gives
PRESETS: dict[str, dict[str, Any]] = {
    # today's default: HST/ACS F814W-like, 0.05"/px drizzled (lensfind.sim.config defaults)
    "hst": {},
    # Euclid VIS: 0.1"/px, PSF FWHM ~0.16-0.18" (Cropper et al. 2016, SPIE 9904, 99040Q);
    # wide survey 4 x 566 s (Scaramella et al. 2022, A&A 662, A112), zodiacal sky ~22.2-22.8;
    # read noise ~4.5 e- per exposure (Cropper et al. 2016); zero point scaled (1.2 m, band
    # ~3x wider than r)
    "euclid_vis": {"pixel_scale": 0.1, "size": 100, "artifacts": COADD_ARTIFACTS, "bands": [
        _band("VIS", 25.6, (2264.0, 2264.0), (22.2, 22.8), 9.0, (0.16, 0.18))]},
    # HSC-SSP Wide (Aihara et al. 2018, PASJ 70, S4; 2022, PASJ 74, 247): 0.168"/px; g, r 10
    # min, i 20 min; median seeing g 0.77", r 0.76", i 0.58" (ranges around them); Mauna Kea
    # dark sky; read noise ~4.5 e- per exposure; zero points scaled (8.2 m)
    "hsc": {"pixel_scale": 0.168, "size": 64, "artifacts": COADD_ARTIFACTS, "bands": [
        _band("g", 28.9, (600.0, 600.0), (21.8, 22.2), 11.0, (0.65, 0.95)),
        _band("r", 28.9, (600.0, 600.0), (20.9, 21.3), 11.0, (0.6, 0.95)),
        _band("i", 28.6, (1200.0, 1200.0), (20.1, 20.5), 14.0, (0.45, 0.75))]},
    # LSST 10-year coadd (Ivezic et al. 2019, ApJ 873, 111, Table 2): 0.2"/px; 30 s visits, g
    # ~80, r and i ~184 visits; sky g 22.26, r 21.20, i 20.48; seeing FWHM ~0.7-0.9"; read
    # noise ~9 e- per visit; zero points for 1 e-/s from the LSST throughputs
    "lsst": {"pixel_scale": 0.2, "size": 56, "artifacts": COADD_ARTIFACTS, "bands": [
        _band("g", 28.5, (2400.0, 2400.0), (22.0, 22.4), 80.0, (0.7, 1.0)),
        _band("r", 28.4, (5520.0, 5520.0), (21.0, 21.4), 120.0, (0.65, 0.95)),
        _band("i", 28.2, (5520.0, 5520.0), (20.3, 20.7), 120.0, (0.6, 0.9))]},
    # DES wide (Abbott et al. 2018, ApJS 239, 18, DR1): 0.263"/px; ~10 x 90 s per band;
    # median seeing g 1.12", r 0.96", i 0.88"; CTIO dark sky; read noise ~7 e- per exposure;
    # zero points scaled (4 m Blanco)
    "des": {"pixel_scale": 0.263, "size": 45, "artifacts": COADD_ARTIFACTS, "bands": [
        _band("g", 27.3, (900.0, 900.0), (21.8, 22.2), 22.0, (0.95, 1.3)),
        _band("r", 27.2, (900.0, 900.0), (20.9, 21.3), 22.0, (0.8, 1.1)),
        _band("i", 27.0, (900.0, 900.0), (20.1, 20.5), 22.0, (0.75, 1.0))]},
}


def expand_preset(table: Mapping[str, Any]) -> dict[str, Any]:
    """A ``[simulation]`` table with its ``preset`` (if any) replaced by the preset's settings,
    the table's own settings winning, setting by setting inside sub-tables such as
    ``[simulation.artifacts]``."""
    table = dict(table)
    name = table.pop("preset", None)
    if name is None:
        return table
    preset = copy.deepcopy(lookup(PRESETS, name, "simulation.preset"))
    for key, value in table.items():
        if isinstance(value, Mapping) and isinstance(preset.get(key), dict):
            preset[key].update(value)
        else:
            preset[key] = value
    return preset
