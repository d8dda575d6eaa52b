"""Registry of the parameters recorded for every simulated image: name -> (unit, description).

Every name appears in ``SimBatch.params`` as a float32 array, NaN where it does not apply (e.g.
the lens parameters of a non-lens), except :data:`SUBSTRUCTURE_PARAMS`, which appear only when
``simulation.substructure.classes`` is non-empty (so sets without substructure keep their
parameters). The lens parameters ``theta_e, e1, e2, center_x, center_y,
magnification, g1, g2, snr`` are the regression targets; their names are fixed.

Magnification is measured inside the cutout: the lensed source flux that lands on the cutout
(before the PSF) over the whole unlensed flux. It therefore depends on the cutout size and the
source offset: where an arc or counter-image falls (partly) outside the cutout, ``magnification``
is a lower bound, and a lens whose images all fall outside has ``magnification`` near 0.
``arc_outside_fraction`` flags such images: the share of the lensed source flux that falls
outside the cutout, measured on a grid twice the cutout's width
(``lensfind.sim.simulate.OUTSIDE_GRID``); 0 when every image is inside. Select on it (e.g.
``< 0.01``) before using the magnification as a target or a measure. The outer image of an SIS
lies at ``theta_e (1 + offset)`` from the lens centre, so a cutout of half-width ``> center_max
+ theta_e_max (1 + offset_max)`` plus a few source radii keeps the arcs inside.
"""
from __future__ import annotations

import numpy as np

from lensfind.validation import lookup

PARAMS: dict[str, tuple[str, str]] = {
    # lens mass (SIE + external shear; conventions in lensfind.sim.func)
    "theta_e": ("arcsec", "Einstein radius of the SIE (lenstronomy convention)"),
    "e1": ("", "SIE ellipticity component (1-q)/(1+q) cos(2 phi)"),
    "e2": ("", "SIE ellipticity component (1-q)/(1+q) sin(2 phi)"),
    "center_x": ("arcsec", "lens centre x, from the cutout centre (x to the right)"),
    "center_y": ("arcsec", "lens centre y, from the cutout centre (y along increasing rows)"),
    "magnification": ("", "flux magnification inside the cutout: lensed source flux in the "
                          "cutout (summed over the supersampled image before the PSF) / total "
                          "unlensed flux; a lower bound where arcs leave the cutout "
                          "(see arc_outside_fraction)"),
    "arc_outside_fraction": ("", "share of the lensed source flux (before the PSF, on a grid "
                                 "twice the cutout's width) outside the cutout; > 0: "
                                 "magnification is a lower bound"),
    "arc_coverage": ("", "share of the position angles around the lens centre covered by lensed "
                         "light (bins holding >= 10 % of the brightest bin's flux, before the "
                         "PSF; lensfind.sim.simulate.COVERAGE_BINS)"),
    "arc_segments": ("", "number of separate runs of covered position angles (1 for a full "
                         "ring): the number of lensed images where they do not merge"),
    "g1": ("", "external shear component 1"),
    "g2": ("", "external shear component 2"),
    "snr": ("", "matched-filter S/N of the lensed source: sqrt(sum_pixels s^2 / variance), "
                "s = PSF-convolved source counts, variance = shot + sky + read noise"),
    # source
    "source_x": ("arcsec", "unlensed source centre x"),
    "source_y": ("arcsec", "unlensed source centre y"),
    "source_mag": ("AB mag", "unlensed total source magnitude"),
    "source_r_sersic": ("arcsec", "source half-light radius"),
    "source_n_sersic": ("", "source Sersic index (NaN for real-galaxy sources)"),
    "source_e1": ("", "source ellipticity component 1"),
    "source_e2": ("", "source ellipticity component 2"),
    "source_real": ("", "1 if the source is a real galaxy stamp, 0 if Sersic"),
    "lensed_source_mag": ("AB mag", "magnitude of the lensed source flux in the cutout"),
    # light of the (lens) galaxy; also for non-lens galaxies
    "light_x": ("arcsec", "galaxy light centre x"),
    "light_y": ("arcsec", "galaxy light centre y"),
    "light_mag": ("AB mag", "total magnitude of the (lens) galaxy light"),
    "light_r_sersic": ("arcsec", "(lens) galaxy half-light radius"),
    "light_n_sersic": ("", "(lens) galaxy Sersic index (NaN for real-galaxy images)"),
    "light_e1": ("", "(lens) galaxy light ellipticity component 1"),
    "light_e2": ("", "(lens) galaxy light ellipticity component 2"),
    "light_real": ("", "1 if the (lens) galaxy light is a real HST image, 0 if Sersic"),
    # observation
    "psf_fwhm": ("arcsec", "PSF full width at half maximum (NaN for an image PSF)"),
    "exposure_time": ("s", "exposure time"),
    "sky": ("e-/pixel", "sky level subtracted from the image"),
    "background_rms": ("e-/pixel", "background noise: sqrt(sky + read_noise^2)"),
    # dark-matter substructure of the lens (only with simulation.substructure.classes; NaN for
    # non-lenses)
    "substructure": ("", "substructure class: index into simulation.substructure.classes"),
    "n_subhalos": ("", "number of CDM point-mass subhalos added to the lens"),
    "n_vortices": ("", "number of axion vortices (line masses) added to the lens"),
    "vortex_length": ("arcsec", "total length of the vortices (0 without)"),
    "substructure_mass": ("M_sun", "total mass of the added subhalos and vortices"),
    "substructure_mass_fraction": ("", "substructure_mass / host mass inside its Einstein "
                                       "radius (sum of substructure theta_E^2 / theta_e^2)"),
}

#: what a regression head may predict: the lens parameters of :data:`PARAMS`
REGRESSION_TARGETS = ("theta_e", "e1", "e2", "center_x", "center_y", "magnification", "g1", "g2")
#: the six of the covariance paper's Table 1 (``ModelConfig.targets`` by default)
TABLE1_TARGETS = REGRESSION_TARGETS[:6]
#: parameters of the lens, recorded as NaN for non-lenses
LENS_PARAMS = REGRESSION_TARGETS + ("snr", "arc_outside_fraction", "arc_coverage",
                                     "arc_segments")
#: recorded only when the set has substructure classes (then NaN for non-lenses)
SUBSTRUCTURE_PARAMS = ("substructure", "n_subhalos", "n_vortices", "vortex_length",
                       "substructure_mass", "substructure_mass_fraction")


#: recorded once per band with ``simulation.bands``, as ``<name>_<band>`` (:func:`band_param`),
#: with the units and meaning of the name in :data:`PARAMS`
BAND_PARAMS = ("exposure_time", "sky", "background_rms", "psf_fwhm", "snr", "light_mag",
               "source_mag")


def band_param(name: str, band: str) -> str:
    """The param recording ``name`` (of :data:`BAND_PARAMS`) in ``band``: ``"<name>_<band>"``."""
    return f"{name}_{band}"


#: ``arc_coverage`` from which a lens counts as a ring (a choice)
RING_COVERAGE = 0.75
#: number of separate image segments -> lens morphology (more than 3: ``"quad"``; a cusp or
#: fold pair merged into one arc counts as one segment)
SEGMENT_MORPHOLOGY = {1: "arc", 2: "double", 3: "quad"}


def morphology(params) -> np.ndarray:
    """Lens morphology of every image from its ``arc_coverage`` and ``arc_segments``:
    ``"ring"`` (coverage >= :data:`RING_COVERAGE`), else ``"arc"``, ``"double"`` or ``"quad"``
    by the number of segments (:data:`SEGMENT_MORPHOLOGY`); ``""`` for non-lenses (NaN) and
    lenses without lensed light in the cutout."""
    coverage = np.asarray(params["arc_coverage"], np.float64)
    segments = np.asarray(params["arc_segments"], np.float64)
    names = [""] + [SEGMENT_MORPHOLOGY[k] for k in sorted(SEGMENT_MORPHOLOGY)]
    index = np.clip(np.nan_to_num(segments, nan=0.0), 0, len(names) - 1).astype(int)
    out = np.array(names, dtype=object)[index]
    out[np.nan_to_num(coverage, nan=0.0) >= RING_COVERAGE] = "ring"
    return out.astype(str)


def describe(name: str) -> str:
    """``"theta_e [arcsec]: Einstein radius ..."``; unknown names raise listing the known ones."""
    unit, text = lookup(PARAMS, name, "simulation parameter")
    return f"{name} [{unit}]: {text}" if unit else f"{name}: {text}"


def outside_note(params, limit: float = 0.01) -> str | None:
    """A line for the user when lenses of a set lose more than ``limit`` of their lensed flux
    outside the cutout (``arc_outside_fraction``), else None."""
    fraction = np.asarray(params.get("arc_outside_fraction", []), np.float64)
    lenses = fraction[np.isfinite(fraction)]
    clipped = int(np.sum(lenses > limit))
    if not clipped:
        return None
    return (f"{clipped} of {lenses.size} lenses have more than {limit:.0%} of their lensed "
            f"flux outside the cutout (up to {lenses.max():.0%}; arc_outside_fraction): their "
            "magnification is a lower bound")
