"""Colour priors of every light component, per band: the magnitude offset from the priors' own
magnitudes.

The magnitudes in the ``[simulation]`` priors (``lens_light.magnitude``, ``source.magnitude``,
...) are HST F814W-like, i.e. close to the i band. In band ``b`` a component's magnitude is
``m + offset_b``, with ``offset_b = low_b + t (high_b - low_b)`` for one ``t`` uniform in
[0, 1) per component: a one-parameter colour sequence (redder in every band together, as real
colours are correlated), drawn from its own random stream (:mod:`lensfind.sim.simulate`).

Ranges are rounded choices read off these colour distributions (observed frame):

- ``early_type`` (lens light, lens-like galaxies, hosts of stars/neighbours/rings): luminous
  red galaxies at z ~ 0.2-0.6, g - r ~ 1.2-1.9, r - i ~ 0.4-0.8 (Eisenstein et al. 2001, AJ 122,
  2267, Fig. 1; SDSS).
- ``source`` (lensed sources): star-forming galaxies at z ~ 1-3, nearly flat in f_nu:
  g - i ~ 0.0-0.8, r - i ~ 0.0-0.4 (e.g. the SL2S/SLACS sources; Collett 2015, ApJ 811, 20,
  models LSST sources the same way).
- ``star``: the stellar locus, g - i ~ -0.4 to 3.0 with r - i ~ -0.2 to 1.4
  (Covey et al. 2007, AJ 134, 2398).
- ``neighbour``, ``field``: field galaxies of every type, between the two above.
- ``spiral``: late-type discs at z ~ 0.1-0.3, g - r ~ 0.4-0.8, r - i ~ 0.2-0.4
  (Strateva et al. 2001, AJ 122, 1861).
- ``ring``: star-forming rings and knots: as blue as the sources, slightly redder.
- ``real_hst``: HST cutouts of mixed galaxies: like ``neighbour``.

``VIS`` (Euclid, ~550-900 nm) is taken as the mean of r, i and z; ``F814W`` is the reference
(offset 0).

Real deep-field sources take their colours from their own stamps instead (centred on the
middle of their class's range; :func:`lensfind.sim.sources.hdf_band`), which places bands by
:data:`BAND_WAVELENGTHS`.
"""
from __future__ import annotations

#: band -> (low, high) offset [mag]; every colour class names every band of :data:`BAND_NAMES`
_EARLY = {"g": (1.6, 2.7), "r": (0.4, 0.8), "i": (0.0, 0.0), "z": (-0.2, -0.4),
          "VIS": (0.07, 0.13), "F814W": (0.0, 0.0)}
_SOURCE = {"g": (0.0, 0.8), "r": (0.0, 0.4), "i": (0.0, 0.0), "z": (0.0, -0.3),
           "VIS": (0.0, 0.03), "F814W": (0.0, 0.0)}
_STAR = {"g": (-0.4, 3.0), "r": (-0.2, 1.4), "i": (0.0, 0.0), "z": (0.1, -0.7),
         "VIS": (-0.03, 0.23), "F814W": (0.0, 0.0)}
_FIELD = {"g": (0.3, 2.2), "r": (0.1, 0.7), "i": (0.0, 0.0), "z": (0.0, -0.35),
          "VIS": (0.03, 0.12), "F814W": (0.0, 0.0)}
_SPIRAL = {"g": (0.6, 1.2), "r": (0.2, 0.4), "i": (0.0, 0.0), "z": (-0.05, -0.25),
           "VIS": (0.05, 0.05), "F814W": (0.0, 0.0)}
_RING = {"g": (0.2, 1.0), "r": (0.1, 0.35), "i": (0.0, 0.0), "z": (0.0, -0.2),
         "VIS": (0.03, 0.05), "F814W": (0.0, 0.0)}

#: colour class -> band -> (low, high) magnitude offset from the priors' (F814W-like) magnitude
COLOURS: dict[str, dict[str, tuple[float, float]]] = {
    "early_type": _EARLY,
    "source": _SOURCE,
    "star": _STAR,
    "neighbour": _FIELD,
    "field": _FIELD,
    "spiral": _SPIRAL,
    "ring": _RING,
    "real_hst": _FIELD,
}

#: the band names a ``[[simulation.bands]]`` entry may have
BAND_NAMES = tuple(_EARLY)

#: the band the priors' magnitudes are in (offset 0 in every colour class)
REFERENCE_BAND = "F814W"

#: band -> effective wavelength [nm]: SDSS g, r, i, z (Fukugita et al. 1996, AJ 111, 1748:
#: 477, 623, 763, 913 nm; HSC, LSST and DES filters are within ~20 nm), Euclid VIS the middle of
#: 550-900 nm, ACS/WFC F814W's pivot (~805 nm, ACS instrument handbook)
BAND_WAVELENGTHS: dict[str, float] = {"g": 477.0, "r": 623.0, "i": 763.0, "z": 913.0,
                                      "VIS": 725.0, "F814W": 805.0}
