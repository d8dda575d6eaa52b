"""Simulate labelled cutouts: lenses (label 1) and non-lenses of several kinds (label 0).

Pipeline, vectorised over images (NumPy, float32; see :mod:`lensfind.sim.func` for why):

1. draw every parameter of a block of images from the priors in :class:`SimConfig`;
2. evaluate the surface brightness on the supersampled grid: lens light (Sersic or a real HST
   galaxy) at the image-plane positions and the source (Sersic or a real deep-field galaxy) at
   the ray-shot positions ``beta = theta - alpha(theta)`` of the SIE + shear lens (plus, with
   ``simulation.substructure``, the lens's CDM subhalos or axion vortices);
3. integrate over pixels (mean over sub-pixels), convolve with the PSF (Gaussian, Moffat or an
   image), add sky, Poisson shot noise and Gaussian read noise, subtract the sky;
4. add cosmic rays, hot pixels and masked (zero) pixels.

Determinism: the systems are simulated in blocks of :data:`BLOCK` images; block ``k`` draws from
``Generator(PCG64(SeedSequence(seed, spawn_key=(1, k))))`` and the class/kind of every system
comes from ``SeedSequence(seed, spawn_key=(0,))``. Images therefore depend only on ``seed``, the
config and their index: :func:`simulate` and any :func:`simulate_chunks` split give bit-identical
arrays. Substructure (class and subhalos/vortices of every lens) is drawn from a stream of its
own, ``SeedSequence(seed, spawn_key=(2, k))``, used only when ``simulation.substructure.classes``
is non-empty: without it nothing changes, and with it the lenses, sources and non-lenses are
drawn as without (only the lensed images, and the noise drawn on them, change). Lenses below
``simulation.source.min_snr`` are drawn again from ``SeedSequence(seed, spawn_key=(3, k, a))``
(and ``(4, k, a)`` for their substructure), ``a`` = 1, 2, ... the redraw. With
``simulation.bands`` every band ``b`` draws its conditions, noise and artifacts from
``(5, k, a, b)`` and the colours from ``(6, k, a)`` (``a`` = 0 for the first draw); the
geometry and the reference-band fluxes are the single band's, so a set in any bands holds the
same systems, and ``min_snr`` applies to the bands' combined S/N. Real deep-field sources (lensed
sources and neighbours) are rendered again in every band from their own colour stamps
(:func:`lensfind.sim.sources.hdf_band`), with no further random draws; their magnification and
arc measurements stay those of the single band's (luminance) render.
:func:`substructure_variants` renders one system once per class.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import numpy as np

from lensfind.sim import cosmology, func, observe, profiles
from lensfind.sim.colours import COLOURS
from lensfind.sim.config import NEGATIVE_KINDS, SUBSTRUCTURE_CLASSES, SimConfig
from lensfind.sim.params import BAND_PARAMS, PARAMS, SUBSTRUCTURE_PARAMS, band_param
from lensfind.sim.sources import (
    hdf_band,
    hdf_source_bank,
    hst_cutouts,
    mgefit_light_bank,
    render_stamps,
)
from lensfind.validation import lookup

BLOCK = 64    # images per random stream (changing it changes the data for a given seed)
RENDER = 1   # images evaluated at once on the supersampled grid (memory/cache; no effect on data)
KINDS = ("lens",) + NEGATIVE_KINDS
#: ``arc_outside_fraction`` is measured on a grid this many times the cutout's width, with
#: pixels as many times larger (point-sampled, before the PSF)
OUTSIDE_GRID = 2
#: lens morphology (:func:`lensfind.sim.params.morphology`) is read off the angular coverage of
#: the lensed light: position-angle bins around the lens centre, and the share of the brightest
#: bin's flux that counts a bin as covered (choices)
COVERAGE_BINS = 32
COVERAGE_LEVEL = 0.1
#: redraws of the lenses below ``simulation.source.min_snr`` before a block is refused
MAX_REDRAWS = 100


@dataclasses.dataclass
class SimBatch:
    """Simulated cutouts.

    Attributes:
        images: float32 ``(N, size, size)`` in electrons (sky-subtracted, noise included), or
            ``(N, size, size, C)`` with ``simulation.bands`` (channels in their order).
        labels: int8 ``(N,)``: 1 = lens, 0 = non-lens.
        kinds: str ``(N,)``: ``"lens"`` or a non-lens kind (:data:`KINDS`).
        system_id: int64 ``(N,)``: index of the system in the simulated set (unique).
        params: name -> float32 ``(N,)`` for every name in :data:`lensfind.sim.params.PARAMS`
            (:data:`~lensfind.sim.params.SUBSTRUCTURE_PARAMS` only with substructure classes),
            NaN where it does not apply.
    """
    images: np.ndarray
    labels: np.ndarray
    kinds: np.ndarray
    system_id: np.ndarray
    params: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index) -> "SimBatch":
        """The images at ``index`` (slice, integer array or boolean mask)."""
        return SimBatch(self.images[index], self.labels[index], self.kinds[index],
                        self.system_id[index], {k: v[index] for k, v in self.params.items()})

    @staticmethod
    def concatenate(batches: Sequence["SimBatch"]) -> "SimBatch":
        """One batch from several (same image size)."""
        batches = list(batches)
        if not batches:
            raise ValueError("no batches to concatenate")
        return SimBatch(np.concatenate([b.images for b in batches]),
                        np.concatenate([b.labels for b in batches]),
                        np.concatenate([b.kinds for b in batches]),
                        np.concatenate([b.system_id for b in batches]),
                        {k: np.concatenate([b.params[k] for b in batches])
                         for k in batches[0].params})


# --------------------------------------------------------------------------------------------
# plan: which system is what


def plan(config: SimConfig, seed: int, n_lenses: int | None = None,
         n_nonlenses: int | None = None) -> np.ndarray:
    """Kind (index into :data:`KINDS`) of every system, in order: int8 ``(N,)``."""
    n_l = config.n_lenses if n_lenses is None else int(n_lenses)
    n_n = config.n_nonlenses if n_nonlenses is None else int(n_nonlenses)
    if n_l < 0 or n_n < 0 or n_l + n_n < 1:
        raise ValueError(f"n_lenses = {n_l}, n_nonlenses = {n_n} is invalid: expected counts "
                         ">= 0 with at least one image")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0,))))
    weights = np.array([config.negatives.weights()[k] for k in NEGATIVE_KINDS], dtype=np.float64)
    neg = rng.choice(len(NEGATIVE_KINDS), size=n_n, p=weights / weights.sum()) + 1
    kinds = np.concatenate([np.zeros(n_l, np.int8), neg.astype(np.int8)])
    return kinds[rng.permutation(kinds.size)]


# --------------------------------------------------------------------------------------------
# drawing helpers


def _uniform(rng: np.random.Generator, bounds, count: int) -> np.ndarray:
    """``count`` draws, uniform in ``bounds = (low, high)``."""
    low, high = bounds
    return rng.uniform(low, high, size=count)


def flux_from_magnitude(mag, exposure, zero_point):
    """Electrons from AB magnitude, exposure [s] and zero point (AB mag giving 1 e-/s)."""
    return exposure * 10.0 ** (-0.4 * (np.asarray(mag, dtype=np.float64) - zero_point))


def _magnitude(flux, exposure, zero_point):
    """AB magnitude from electrons (inverse of :func:`flux_from_magnitude`)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return zero_point - 2.5 * np.log10(flux / exposure)


def _draw_size(rng: np.random.Generator, priors, count: int) -> dict:
    """Magnitude [AB], half-light radius ``r`` [arcsec] and Sersic index ``n`` from ``priors``
    (any prior table with ``magnitude``, ``r_sersic`` and ``n_sersic``), in that draw order."""
    return {"mag": _uniform(rng, priors.magnitude, count),
            "r": _uniform(rng, priors.r_sersic, count),
            "n": _uniform(rng, priors.n_sersic, count)}


def _draw_orientation(rng: np.random.Generator, axis_ratio, count: int) -> dict:
    """Axis ratio ``q`` uniform in ``axis_ratio`` and position angle ``phi`` [rad] in
    ``[0, pi)``."""
    return {"q": _uniform(rng, axis_ratio, count), "phi": rng.uniform(0, np.pi, count)}


def _follow_mass(rng: np.random.Generator, light_priors, q_mass, phi_mass) -> dict:
    """Light axis ratio and angle [rad] scattered around those of the mass
    (``lens_light.follow_*`` priors)."""
    scatter = light_priors.follow_axis_ratio_scatter
    count = q_mass.size
    q = np.clip(q_mass + rng.uniform(-scatter, scatter, count),
                light_priors.follow_min_axis_ratio, 1.0)
    phi = phi_mass + np.deg2rad(rng.normal(0, light_priors.follow_angle_scatter, count))
    return {"q": q, "phi": phi}


#: light kind -> which galaxies are real images, from one uniform draw in [0, 1) each
_REAL_CHOICE = {
    "sersic": lambda draw, real_fraction: np.zeros(draw.size, bool),
    "real": lambda draw, real_fraction: np.ones(draw.size, bool),
    "mixed": lambda draw, real_fraction: draw < real_fraction,
}


def _draw_appearance(rng: np.random.Generator, kind: str, real_fraction: float,
                     count: int) -> dict:
    """Sersic or real image for ``count`` galaxies of light ``kind`` (``"sersic"``, ``"real"``
    or ``"mixed"`` with probability ``real_fraction`` of a real one), plus which stamp (uniform
    ``stamp_pick`` in [0, 1)) and whether it is mirrored. Draws the same numbers whatever the
    kind, so changing it does not shift the random stream."""
    real_draw = rng.random(count)
    stamp_pick = rng.random(count)
    flip = rng.random(count) < 0.5
    real = lookup(_REAL_CHOICE, kind, "light kind")(real_draw, real_fraction)
    return {"real": real, "stamp_pick": stamp_pick, "flip": flip}


def _stamp_index(stamp_pick: np.ndarray, bank) -> np.ndarray:
    """Index into ``bank`` of each uniform ``stamp_pick`` in [0, 1)."""
    return np.minimum((stamp_pick * len(bank)).astype(int), len(bank) - 1)


class _Block:
    """Parameters and pixel images (electrons per pixel) of one block of systems.

    ``sub_rng`` (substructure draws) is set when the config has substructure classes;
    ``force_class`` (an index into them, for :func:`substructure_variants`) overrides the drawn
    class of every lens."""
    def __init__(self, config: SimConfig, rng: np.random.Generator, kinds: np.ndarray,
                 sub_rng: np.random.Generator | None = None, force_class: int | None = None):
        self.config = config
        self.rng = rng
        self.sub_rng = sub_rng
        self.force_class = force_class
        self.kinds = kinds
        self.n_images = kinds.size
        size = config.size
        with_sub = config.substructure.enabled
        self.params = {name: np.full(self.n_images, np.nan) for name in PARAMS
                       if with_sub or name not in SUBSTRUCTURE_PARAMS}
        self.pre_psf = np.zeros((self.n_images, size, size), np.float32)
        self.layers: dict[str, np.ndarray] = {}   # colour class -> pre-PSF light (with bands)
        self.post_psf = np.zeros((self.n_images, size, size), np.float32)  # already convolved
        self.lensed_sources = {}   # row -> lensed source alone, pre-PSF (for the S/N)
        # with bands, real deep-field sources in their own colours (reference exposure and zero
        # point): row -> lensed source (C, n, n) and its magnitude offsets (C,)
        self.band_sources: dict[int, np.ndarray] = {}
        self.band_source_offsets: dict[int, np.ndarray] = {}
        self.band_layer: np.ndarray | None = None   # (C, N, n, n) other light in own colours
        self.x, self.y = func.grid(size, config.pixel_scale, config.supersampling)
        self.pix_area = config.pixel_scale ** 2
        self.work = func.Workspace()
        self.fine_shape = (self.x.shape[-1],) * 2  # supersampled grid

    def layer(self, colour: str) -> np.ndarray:
        """Pre-PSF image ``(N, size, size)`` to add light of colour class ``colour``
        (:data:`lensfind.sim.colours.COLOURS`) to: ``pre_psf`` itself for a single band, else
        one image per colour class (scaled per band by :func:`_band_images`)."""
        if not self.config.bands:
            return self.pre_psf
        if colour not in self.layers:
            self.layers[colour] = np.zeros_like(self.pre_psf)
        return self.layers[colour]

    def add_band_light(self, rows: np.ndarray, images: np.ndarray) -> None:
        """Add ``images`` ``(k, C, n, n)`` (light in its own colours, e- per pixel in the
        reference exposure and zero point) to the images ``rows`` of every band."""
        if self.band_layer is None:
            self.band_layer = np.zeros((len(self.config.bands),) + self.pre_psf.shape,
                                       np.float32)
        for i, row in enumerate(rows):
            self.band_layer[:, row] += images[i]

    def scratch(self, name: str, count: int) -> np.ndarray:
        """Scratch ``(count, n_fine, n_fine)`` array ``name`` (reused; content undefined)."""
        return self.work.get(name, (count,) + self.fine_shape)

    def pixelate(self, brightness: np.ndarray) -> np.ndarray:
        """Surface brightness [e-/arcsec^2] on the supersampled grid -> e- per pixel (in a
        reused buffer: add it somewhere or copy it before the next call)."""
        size = self.config.size
        out = observe.downsample(brightness, self.config.supersampling,
                                 out=self.work.get("pix", (brightness.shape[0], size, size)),
                                 work=self.work)
        out *= np.float32(self.pix_area)
        return out


def _chunks(n: int, size: int):
    """Slices of ``range(n)``, ``size`` long (the last one shorter)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


# --------------------------------------------------------------------------------------------
# galaxy light (lens light and non-lens galaxies share these priors)


def _draw_galaxy(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> dict:
    """Lens-galaxy-like light for ``rows`` (and the mass shape it would follow), recorded in
    the ``light_*`` params. Positions in arcsec, angles in rad, flux in electrons."""
    config, rng, count = block.config, block.rng, rows.size
    mass_priors, light_priors = config.lens, config.lens_light
    galaxy = {"q_mass": _uniform(rng, mass_priors.axis_ratio, count),
              "phi_mass": rng.uniform(0, np.pi, count),
              "cx": rng.uniform(-mass_priors.center_max, mass_priors.center_max, count),
              "cy": rng.uniform(-mass_priors.center_max, mass_priors.center_max, count)}
    galaxy.update(_draw_size(rng, light_priors, count))
    if light_priors.follow_mass:
        galaxy.update(_follow_mass(rng, light_priors, galaxy["q_mass"], galaxy["phi_mass"]))
    else:
        galaxy.update(_draw_orientation(rng, light_priors.axis_ratio, count))
    galaxy.update(_draw_appearance(rng, light_priors.kind, light_priors.real_fraction, count))
    galaxy["flux"] = flux_from_magnitude(galaxy["mag"], exposure[rows], config.noise.zero_point)
    galaxy["e1"], galaxy["e2"] = func.phi_q_to_e(galaxy["phi"], galaxy["q"])
    params = block.params
    params["light_x"][rows] = galaxy["cx"]
    params["light_y"][rows] = galaxy["cy"]
    params["light_mag"][rows] = galaxy["mag"]
    params["light_r_sersic"][rows] = galaxy["r"]
    params["light_n_sersic"][rows] = np.where(galaxy["real"], np.nan, galaxy["n"])
    params["light_e1"][rows] = galaxy["e1"]
    params["light_e2"][rows] = galaxy["e2"]
    params["light_real"][rows] = galaxy["real"]
    return galaxy


def _render_galaxy(block: _Block, rows: np.ndarray, galaxy: dict) -> None:
    """Add the light of ``galaxy`` (from :func:`_draw_galaxy`) to
    ``block.layer("early_type")[rows]``."""
    amp = profiles.sersic_amp(galaxy["flux"], galaxy["r"], galaxy["n"])
    sersic = profiles.sersic_setup(amp, galaxy["r"], galaxy["n"])
    scale = profiles.sersic_radius_scale(galaxy["r"], galaxy["n"])
    qa, qb, qc = profiles.quadratic_columns(galaxy["e1"], galaxy["e2"], scale)
    cx, cy = func.col(galaxy["cx"]), func.col(galaxy["cy"])
    for chunk in _chunks(rows.size, RENDER):
        chunk_rows = rows[chunk]
        real = galaxy["real"][chunk]
        if not real.any():   # fast path: r^2 as a quadratic form of the offsets
            brightness = block.scratch("sb", chunk_rows.size)
            dx, dy = block.x - cx[chunk], block.y - cy[chunk]
            np.multiply(qb[chunk] * dx, dy, out=brightness)
            brightness += qa[chunk] * (dx * dx)
            brightness += qc[chunk] * (dy * dy)
            profiles.sersic_from_r2(brightness, {key: v[chunk] for key, v in sersic.items()})
            block.layer("early_type")[chunk_rows] += block.pixelate(brightness)
            continue
        part = {key: value[chunk] for key, value in galaxy.items()}
        brightness = np.zeros((chunk_rows.size,) + block.fine_shape, np.float32)
        ser = ~real
        if ser.any():
            brightness[ser] = profiles.sersic(block.x, block.y, amp[chunk][ser], part["r"][ser],
                                              part["n"][ser], part["e1"][ser], part["e2"][ser],
                                              part["cx"][ser], part["cy"][ser])
        bank = mgefit_light_bank()
        brightness[real] = render_stamps(block.x, block.y, bank,
                                         _stamp_index(part["stamp_pick"][real], bank),
                                         part["cx"][real], part["cy"][real], part["r"][real],
                                         part["phi"][real], part["flux"][real],
                                         flip=part["flip"][real])
        block.layer("early_type")[chunk_rows] += block.pixelate(brightness)


# --------------------------------------------------------------------------------------------
# lenses


def _draw_source(block: _Block, count: int, exposure: np.ndarray, priors) -> dict:
    """Unlensed source light from ``priors`` (a :class:`SourcePriors`): flux in electrons for
    ``exposure`` [s] ``(count,)``, radius in arcsec, angle in rad."""
    rng = block.rng
    source = _draw_size(rng, priors, count)
    source.update(_draw_orientation(rng, priors.axis_ratio, count))
    source.update(_draw_appearance(rng, priors.kind, priors.real_fraction, count))
    source["flux"] = flux_from_magnitude(source["mag"], exposure, block.config.noise.zero_point)
    source["e1"], source["e2"] = func.phi_q_to_e(source["phi"], source["q"])
    return source


def _source_brightness(bx, by, source: dict, chunk: slice, cx, cy, out=None,
                       work=None) -> np.ndarray:
    """Surface brightness [e-/arcsec^2] at positions ``bx, by`` [arcsec] of the sources
    ``chunk`` of ``source``; ``cx, cy`` are their centres, or None when ``bx, by`` are already
    offsets from them."""
    part = {key: value[chunk] for key, value in source.items()}
    real = part["real"]
    if not real.any():
        amp = profiles.sersic_amp(part["flux"], part["r"], part["n"])
        return profiles.sersic(bx, by, amp, part["r"], part["n"], part["e1"], part["e2"],
                               cx, cy, out=out, work=work)
    shape = np.broadcast_shapes(bx.shape, by.shape)
    brightness = np.zeros((real.size,) + shape[1:], np.float32)
    ser = ~real
    if ser.any():
        amp = profiles.sersic_amp(part["flux"][ser], part["r"][ser], part["n"][ser])
        brightness[ser] = profiles.sersic(_pick(bx, ser), _pick(by, ser), amp, part["r"][ser],
                                          part["n"][ser], part["e1"][ser], part["e2"][ser],
                                          None if cx is None else cx[ser],
                                          None if cy is None else cy[ser])
    bank = hdf_source_bank()
    brightness[real] = render_stamps(_pick(bx, real), _pick(by, real), bank,
                                     _stamp_index(part["stamp_pick"][real], bank),
                                     _centre(cx, real), _centre(cy, real), part["r"][real],
                                     part["phi"][real], part["flux"][real],
                                     flip=part["flip"][real])
    return brightness


def _pick(positions: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """The rows ``selected`` of positions ``(count, ...)``, or shared positions ``(1, ...)``."""
    return positions[selected] if positions.shape[0] > 1 else positions


def _centre(c: np.ndarray | None, selected: np.ndarray) -> np.ndarray:
    """The centres ``selected`` of ``c``; zeros when ``c`` is None (positions are offsets)."""
    return np.zeros(int(selected.sum())) if c is None else c[selected]


def _band_stamps(block: _Block, bx, by, source: dict, chunk: slice, cx, cy,
                 colour: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real deep-field galaxies among the sources ``chunk`` of ``source`` (arguments as
    :func:`_source_brightness`) in every band of ``simulation.bands``, from their own colour
    stamps (:func:`~lensfind.sim.sources.hdf_band`, colour class ``colour``): their indices in
    the chunk, images ``(k, C, n, n)`` [e- per pixel before the PSF, reference exposure and zero
    point, times the band's colour] and magnitude offsets ``(k, C)`` [mag]."""
    real = source["real"][chunk]
    idx = _stamp_index(source["stamp_pick"][chunk][real], hdf_source_bank())
    part = {key: source[key][chunk][real] for key in ("r", "phi", "flux", "flip")}
    bands = block.config.bands
    images = np.empty((idx.size, len(bands)) + block.pre_psf.shape[1:], np.float32)
    offsets = np.empty((idx.size, len(bands)))
    for c, band in enumerate(bands):
        bank, offset = hdf_band(band.name, colour)
        offsets[:, c] = offset[idx]
        brightness = render_stamps(_pick(bx, real), _pick(by, real), bank, idx,
                                   _centre(cx, real), _centre(cy, real), part["r"], part["phi"],
                                   part["flux"] * 10.0 ** (-0.4 * offsets[:, c]),
                                   flip=part["flip"])
        images[:, c] = block.pixelate(brightness)
    return np.flatnonzero(real), images, offsets


def _draw_mass(rng: np.random.Generator, mass_priors, galaxy: dict) -> dict:
    """SIE + external shear centred on ``galaxy``, with its mass shape (lenstronomy keywords;
    ``theta_e`` in arcsec)."""
    count = galaxy["cx"].size
    theta_e = _uniform(rng, mass_priors.theta_e, count)
    shear = _uniform(rng, mass_priors.shear, count)
    shear_angle = rng.uniform(0, np.pi, count)
    mass = {"theta_e": theta_e, "center_x": galaxy["cx"], "center_y": galaxy["cy"],
            "g1": shear * np.cos(2 * shear_angle), "g2": shear * np.sin(2 * shear_angle)}
    mass["e1"], mass["e2"] = func.phi_q_to_e(galaxy["phi_mass"], galaxy["q_mass"])
    return mass


def _draw_source_position(rng: np.random.Generator, source_priors, mass: dict):
    """Source centre [arcsec], area-uniform in the annulus ``source.offset`` (in Einstein
    radii) around the lens centre."""
    count = mass["theta_e"].size
    inner, outer = source_priors.offset
    radius = mass["theta_e"] * np.sqrt(rng.uniform(inner ** 2, outer ** 2, count))
    angle = rng.uniform(0, 2 * np.pi, count)
    return (mass["center_x"] + radius * np.cos(angle),
            mass["center_y"] + radius * np.sin(angle))


def _power_law(u: np.ndarray, bounds, slope: float) -> np.ndarray:
    """Inverse CDF of ``p(m) ~ m^slope`` on ``bounds = (low, high)`` at uniform ``u``."""
    low, high = (float(b) for b in bounds)
    a = slope + 1.0
    if abs(a) < 1e-9:
        return low * (high / low) ** u
    return (low ** a + u * (high ** a - low ** a)) ** (1.0 / a)


def _annulus(rng: np.random.Generator, bounds, theta_e: np.ndarray, shape) -> tuple:
    """Offsets [arcsec] area-uniform in the annulus ``bounds`` (Einstein radii): radius draws
    then angle draws, each of ``shape = (count, k)``."""
    inner, outer = bounds
    radius = theta_e[:, None] * np.sqrt(rng.uniform(inner ** 2, outer ** 2, shape))
    angle = rng.uniform(0, 2 * np.pi, shape)
    return radius * np.cos(angle), radius * np.sin(angle)


def _draw_substructure(block: _Block, rows: np.ndarray, mass: dict) -> dict:
    """Class, subhalos and vortices of the lenses ``rows`` (``simulation.substructure``) from
    ``block.sub_rng``, recorded in the substructure params; returns the ``(count, K)`` arrays of
    :func:`lensfind.sim.func.substructure_deflection` (zero Einstein radius where a lens's
    class adds nothing). Everything is drawn for every lens whatever its class, so the class
    only decides what is added."""
    priors, rng, count = block.config.substructure, block.sub_rng, rows.size
    classes = priors.classes
    klass = rng.choice(len(classes), size=count, p=np.asarray(priors.probabilities()))
    if block.force_class is not None:
        klass = np.full(count, int(block.force_class))
    adds = [SUBSTRUCTURE_CLASSES[name] for name in classes]
    with_subhalos = np.array([("subhalos" in adds[c]) for c in klass], dtype=bool)
    with_vortices = np.array([("vortices" in adds[c]) for c in klass], dtype=bool)
    theta_e = mass["theta_e"]
    z = (priors.z_lens, priors.z_source)
    # CDM subhalos: Poisson number, masses from the power law, area-uniform in the annulus
    n_sub = rng.poisson(priors.subhalos, count)
    k = int(n_sub.max()) if count else 0
    sub_mass = _power_law(rng.random((count, k)), priors.subhalo_mass, priors.subhalo_slope)
    dx, dy = _annulus(rng, priors.subhalo_radius, theta_e, (count, k))
    present = (np.arange(k) < n_sub[:, None]) & with_subhalos[:, None]
    sub_mass = np.where(present, sub_mass, 0.0)
    point_theta = cosmology.point_mass_einstein_radius(sub_mass, *z)
    # axion vortices: uniform segments near the ring, uniform orientation
    n_vort = rng.integers(priors.vortices[0], priors.vortices[1] + 1, count)
    kv = priors.vortices[1]
    vort_mass = rng.uniform(*priors.vortex_mass, (count, kv))
    length = rng.uniform(*priors.vortex_length, (count, kv))
    vx, vy = _annulus(rng, priors.vortex_radius, theta_e, (count, kv))
    orientation = rng.uniform(0, np.pi, (count, kv))
    present_v = (np.arange(kv) < n_vort[:, None]) & with_vortices[:, None]
    vort_mass = np.where(present_v, vort_mass, 0.0)
    line_theta = cosmology.point_mass_einstein_radius(vort_mass, *z)

    params = block.params
    params["substructure"][rows] = klass
    params["n_subhalos"][rows] = present.sum(axis=1)
    params["n_vortices"][rows] = present_v.sum(axis=1)
    params["vortex_length"][rows] = np.where(present_v, length, 0.0).sum(axis=1)
    params["substructure_mass"][rows] = sub_mass.sum(axis=1) + vort_mass.sum(axis=1)
    params["substructure_mass_fraction"][rows] = (
        (point_theta ** 2).sum(axis=1) + (line_theta ** 2).sum(axis=1)) / theta_e ** 2
    cx, cy = mass["center_x"][:, None], mass["center_y"][:, None]
    return {"point_theta_e": point_theta, "point_x": cx + dx, "point_y": cy + dy,
            "line_theta_e": line_theta, "line_length": length, "line_angle": orientation,
            "line_x": cx + vx, "line_y": cy + vy}


def _substructure_part(sub: dict, chunk: slice) -> dict:
    """The rows ``chunk`` of ``sub``, without the columns that add nothing to any of them."""
    part = {}
    for family in ("point", "line"):
        names = [name for name in sub if name.startswith(family + "_")]
        keep = np.flatnonzero((sub[f"{family}_theta_e"][chunk] > 0).any(axis=0))
        part.update({name: sub[name][chunk][:, keep] for name in names})
    return part


def _render_lensed_source(block: _Block, rows: np.ndarray, mass: dict, source: dict,
                          sx: np.ndarray, sy: np.ndarray, sub: dict | None = None) -> np.ndarray:
    """Keep the lensed image of every source (e- per pixel, pre-PSF) in
    ``block.lensed_sources``; returns the magnification: lensed flux in the cutout (before the
    PSF) / unlensed total flux (exact: the Sersic integral or the unit-sum stamp times flux).
    ``sub`` (from :func:`_draw_substructure`) adds substructure to the deflection: every lens
    then takes the general ray-shooting path, with or without substructure of its own."""
    count = rows.size
    magnification = np.empty(count)
    ray = func.lensed_setup(mass, {"center_x": sx, "center_y": sy, "e1": source["e1"],
                                   "e2": source["e2"],
                                   "r_sersic": profiles.sersic_radius_scale(source["r"],
                                                                            source["n"])})
    sersic = profiles.sersic_setup(profiles.sersic_amp(source["flux"], source["r"], source["n"]),
                                   source["r"], source["n"])
    for chunk in _chunks(count, RENDER):
        k = chunk.stop - chunk.start
        fast = sub is None and not source["real"][chunk].any()
        if fast:   # ray-shoot straight into the source frame
            r2 = func.lensed_radius2(block.x, block.y, work=block.work,
                                     out=block.scratch("sb", k),
                                     setup={key: v[chunk] for key, v in ray.items()})
            brightness = profiles.sersic_from_r2(r2, {key: v[chunk] for key, v in sersic.items()})
        else:
            bx, by = func.ray_shoot(block.x, block.y, {key: v[chunk] for key, v in mass.items()},
                                    sx[chunk], sy[chunk], work=block.work,
                                    out=(block.scratch("bx", k), block.scratch("by", k)))
            if sub is not None:
                func.subtract_substructure(block.x, block.y, _substructure_part(sub, chunk),
                                           bx, by)
            brightness = _source_brightness(bx, by, source, chunk, None, None,
                                            out=block.scratch("sb", k), work=block.work)
        image = block.pixelate(brightness).copy()
        magnification[chunk] = image.sum(axis=(1, 2), dtype=np.float64) / source["flux"][chunk]
        for i, row in enumerate(rows[chunk]):
            block.lensed_sources[int(row)] = image[i]
        if block.config.bands and source["real"][chunk].any():
            which, images, offsets = _band_stamps(block, bx, by, source, chunk, None, None,
                                                  "source")
            for i, row in enumerate(rows[chunk][which]):
                block.band_sources[int(row)] = images[i]
                block.band_source_offsets[int(row)] = offsets[i]
    return magnification


def _outside_fraction(block: _Block, mass: dict, source: dict, sx: np.ndarray, sy: np.ndarray,
                      sub: dict | None = None) -> np.ndarray:
    """Share of each lens's lensed source flux (before the PSF) that falls outside the cutout,
    of the flux on a grid :data:`OUTSIDE_GRID` times as wide (``size`` pixels of
    ``OUTSIDE_GRID * pixel_scale``, point-sampled: about 1/9 of the cost of the cutout's own
    render at supersampling 3). 1 when no lensed flux lands on that grid."""
    size, scale = block.config.size, block.config.pixel_scale
    x, y = func.grid(size, OUTSIDE_GRID * scale)
    half = 0.5 * size * scale
    inside = ((np.abs(x) < half) & (np.abs(y) < half))[0]
    count = sx.size
    fraction = np.empty(count)
    for chunk in _chunks(count, RENDER):
        bx, by = func.ray_shoot(x, y, {key: v[chunk] for key, v in mass.items()}, sx[chunk],
                                sy[chunk], work=block.work)
        if sub is not None:
            func.subtract_substructure(x, y, _substructure_part(sub, chunk), bx, by)
        brightness = _source_brightness(bx, by, source, chunk, None, None, work=block.work)
        total = brightness.sum(axis=(1, 2), dtype=np.float64)
        outside = total - brightness[:, inside].sum(axis=1, dtype=np.float64)
        fraction[chunk] = np.where(total > 0, outside / np.maximum(total, 1e-300), 1.0)
    return fraction


def _angular_coverage(block: _Block, rows: np.ndarray, cx: np.ndarray,
                      cy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Share of the :data:`COVERAGE_BINS` position-angle bins around each lens centre
    ``(cx, cy)`` [arcsec] whose lensed source flux (pixels, before the PSF and noise) is at
    least :data:`COVERAGE_LEVEL` of the brightest bin's, and the number of separate runs of
    such bins (1 for a full ring): ``(coverage, segments)``."""
    size, scale = block.config.size, block.config.pixel_scale
    x, y = func.grid(size, scale)
    coverage, segments = np.empty(rows.size), np.empty(rows.size)
    for i, row in enumerate(rows):
        angle = np.arctan2(y - cy[i], x - cx[i]).reshape(-1) % (2 * np.pi)
        bins = np.minimum((angle * COVERAGE_BINS / (2 * np.pi)).astype(int), COVERAGE_BINS - 1)
        flux = np.bincount(bins, weights=block.lensed_sources[int(row)].reshape(-1),
                           minlength=COVERAGE_BINS)
        covered = flux >= COVERAGE_LEVEL * flux.max() if flux.max() > 0 \
            else np.zeros(COVERAGE_BINS, bool)
        coverage[i] = covered.mean()
        starts = int(np.sum(covered & ~np.roll(covered, 1)))
        segments[i] = 1 if covered.all() else starts
    return coverage, segments


def _lenses(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """Lens galaxy + SIE/shear mass + lensed source (``lens``, ``lens_light``, ``source``)."""
    config, rng = block.config, block.rng
    galaxy = _draw_galaxy(block, rows, exposure)
    mass = _draw_mass(rng, config.lens, galaxy)
    sx, sy = _draw_source_position(rng, config.source, mass)
    source = _draw_source(block, rows.size, exposure[rows], config.source)
    params = block.params
    for key in ("theta_e", "e1", "e2", "center_x", "center_y", "g1", "g2"):
        params[key][rows] = mass[key]
    params["source_x"][rows], params["source_y"][rows] = sx, sy
    params["source_mag"][rows] = source["mag"]
    params["source_r_sersic"][rows] = source["r"]
    params["source_n_sersic"][rows] = np.where(source["real"], np.nan, source["n"])
    params["source_e1"][rows], params["source_e2"][rows] = source["e1"], source["e2"]
    params["source_real"][rows] = source["real"]
    sub = _draw_substructure(block, rows, mass) if config.substructure.enabled else None

    _render_galaxy(block, rows, galaxy)
    magnification = _render_lensed_source(block, rows, mass, source, sx, sy, sub)
    params["magnification"][rows] = magnification
    params["arc_outside_fraction"][rows] = _outside_fraction(block, mass, source, sx, sy, sub)
    params["lensed_source_mag"][rows] = (source["mag"]
                                         - 2.5 * np.log10(np.maximum(magnification, 1e-30)))
    params["arc_coverage"][rows], params["arc_segments"][rows] = _angular_coverage(
        block, rows, mass["center_x"], mass["center_y"])


# --------------------------------------------------------------------------------------------
# non-lenses


def _lens_galaxies(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A lens-like galaxy without a lensed source."""
    _render_galaxy(block, rows, _draw_galaxy(block, rows, exposure))


def _neighbours(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A galaxy plus an unlensed neighbour, often elongated and tangentially aligned
    (arc-like); priors: ``config.neighbour``."""
    config, rng, count = block.config, block.rng, rows.size
    priors = config.neighbour
    galaxy = _draw_galaxy(block, rows, exposure)
    distance = _uniform(rng, priors.distance, count)
    angle = rng.uniform(0, 2 * np.pi, count)
    tangential = rng.random(count) < priors.tangential_fraction
    source_priors = dataclasses.replace(config.source, magnitude=priors.magnitude,
                                        r_sersic=priors.r_sersic, axis_ratio=priors.axis_ratio)
    neighbour = _draw_source(block, count, exposure[rows], source_priors)
    neighbour["phi"] = np.where(tangential, angle + np.pi / 2, neighbour["phi"])
    neighbour["e1"], neighbour["e2"] = func.phi_q_to_e(neighbour["phi"], neighbour["q"])
    nx = galaxy["cx"] + distance * np.cos(angle)
    ny = galaxy["cy"] + distance * np.sin(angle)
    _render_galaxy(block, rows, galaxy)
    for chunk in _chunks(count, RENDER):
        brightness = _source_brightness(block.x, block.y, neighbour, chunk, nx[chunk], ny[chunk],
                                        out=block.scratch("sb", chunk.stop - chunk.start),
                                        work=block.work)
        coloured = neighbour["real"][chunk] & bool(config.bands)   # in their stamps' colours
        if not coloured.any():
            block.layer("neighbour")[rows[chunk]] += block.pixelate(brightness)
            continue
        grey = ~coloured
        block.layer("neighbour")[rows[chunk][grey]] += block.pixelate(brightness[grey])
        which, images, _ = _band_stamps(block, block.x, block.y, neighbour, chunk, nx[chunk],
                                        ny[chunk], "neighbour")
        block.add_band_light(rows[chunk][which], images)


def _add_points(img: np.ndarray, x: np.ndarray, y: np.ndarray, flux: np.ndarray,
                pixel_scale: float) -> None:
    """Delta functions at (x, y) arcsec, each split bilinearly over its 4 nearest pixels."""
    n = img.shape[-1]
    c = (n - 1) / 2.0
    u = np.asarray(x, dtype=np.float64) / pixel_scale + c
    v = np.asarray(y, dtype=np.float64) / pixel_scale + c
    j0, i0 = np.floor(u).astype(int), np.floor(v).astype(int)
    fu, fv = u - j0, v - i0
    flat = img.reshape(-1)
    for di, dj, w in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)),
                      (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        i, j = i0 + di, j0 + dj
        ok = (i >= 0) & (i < n) & (j >= 0) & (j < n)
        np.add.at(flat, i[ok] * n + j[ok], (flux * w)[ok].astype(img.dtype))


def _star_with_spikes(x: float, y: float, flux: float, angle: float, pixel_scale: float,
                      spike_fraction: float):
    """Point positions [arcsec] and fluxes [e-] of a star plus 4 diffraction spikes at
    ``angle`` [rad] holding ``spike_fraction`` of the flux (HST-like, ~1/r^2)."""
    length = np.clip(4.0 * np.log10(max(flux, 1.0)), 2.0, 40.0)   # pixels, grows with flux
    r = np.arange(1.5, length, 0.5)
    w = 1.0 / (1.0 + (r / 1.5) ** 2)
    w *= spike_fraction * flux / (4 * w.sum()) if w.size else 0.0
    xs, ys, fs = [np.array([x])], [np.array([y])], [np.array([flux * (1 - spike_fraction)])]
    for k in range(4):
        a = angle + k * np.pi / 2
        xs.append(x + r * pixel_scale * np.cos(a))
        ys.append(y + r * pixel_scale * np.sin(a))
        fs.append(w)
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(fs)


def _stars(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """Stars with diffraction spikes, sometimes next to a galaxy; one star is often near the
    centre. Priors: ``config.star``."""
    config, rng, count = block.config, block.rng, rows.size
    priors = config.star
    galaxy = _draw_galaxy(block, rows, exposure)
    with_galaxy = rng.random(count) < priors.with_galaxy_fraction
    n_stars = rng.integers(priors.count[0], priors.count[1] + 1, count)
    half = config.field_of_view / 2
    position = rng.uniform(-half, half, (count, priors.count[1], 2))
    central = rng.random(count) < priors.central_fraction
    position[central, 0] = rng.uniform(-priors.central_offset, priors.central_offset,
                                       (int(central.sum()), 2))
    mags = rng.uniform(priors.magnitude[0], priors.magnitude[1], (count, priors.count[1]))
    spike_angle = rng.uniform(0, np.pi / 2, count)
    if with_galaxy.any():
        _render_galaxy(block, rows[with_galaxy],
                       {key: value[with_galaxy] for key, value in galaxy.items()})
    for name in ("light_x", "light_y", "light_mag", "light_r_sersic", "light_n_sersic",
                 "light_e1", "light_e2", "light_real"):
        block.params[name][rows[~with_galaxy]] = np.nan
    for i, row in enumerate(rows):
        for k in range(int(n_stars[i])):
            flux = float(flux_from_magnitude(mags[i, k], exposure[row], config.noise.zero_point))
            points = _star_with_spikes(position[i, k, 0], position[i, k, 1], flux,
                                       spike_angle[i], config.pixel_scale, priors.spike_fraction)
            _add_points(block.layer("star")[row], *points, config.pixel_scale)


def _draw_ring(rng: np.random.Generator, priors, galaxy: dict, count: int) -> dict:
    """Ring, knots and nucleus offset of ``count`` ring galaxies (``ring`` priors) around
    ``galaxy`` (from :func:`_draw_galaxy`, whose half-light radius ``r`` is reset here from the
    ring radius). Lengths in arcsec, angles in rad; knot arrays are ``(count, K)``."""
    ring = {"radius": _uniform(rng, priors.radius, count)}
    galaxy["r"] = ring["radius"] / _uniform(rng, priors.radius_over_r_e, count)
    ring["width"] = _uniform(rng, priors.width, count)
    ring["mag"] = _uniform(rng, priors.magnitude, count)
    ring["q"] = _uniform(rng, priors.disc_axis_ratio, count)
    ring["e1"], ring["e2"] = func.phi_q_to_e(galaxy["phi"], ring["q"])
    ring["diffuse"] = _uniform(rng, priors.diffuse_fraction, count)
    collisional = rng.random(count) < priors.collisional_fraction
    offset = np.where(collisional, _uniform(rng, priors.nucleus_offset, count), 0.0)
    offset_angle = rng.uniform(0, 2 * np.pi, count)
    ring["cx"] = galaxy["cx"] + offset * ring["radius"] * np.cos(offset_angle)
    ring["cy"] = galaxy["cy"] + offset * ring["radius"] * np.sin(offset_angle)
    ring["lopsided"] = np.where(collisional, _uniform(rng, priors.lopsidedness, count), 0.0)
    ring["lopsided_phase"] = rng.uniform(0, 2 * np.pi, count)
    n_knots = rng.integers(priors.knots[0], priors.knots[1] + 1, count)
    k = priors.knots[1]
    weight = 10.0 ** rng.normal(0.0, priors.knot_flux_scatter, (count, k))
    weight *= np.arange(k) < n_knots[:, None]
    ring["knot_share"] = weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-300)
    ring["knot_sigma"] = rng.uniform(*priors.knot_sigma, (count, k))
    along = rng.uniform(0, 2 * np.pi, (count, k))
    r = ring["radius"][:, None] + ring["width"][:, None] * rng.normal(0.0, 1.0, (count, k))
    # a circle of radius r in the disc plane: the ellipse R = r (R = sqrt(q x'^2 + y'^2 / q))
    sq = np.sqrt(ring["q"])[:, None]
    xp, yp = r / sq * np.cos(along), r * sq * np.sin(along)
    c, s = np.cos(galaxy["phi"])[:, None], np.sin(galaxy["phi"])[:, None]
    ring["knot_x"] = ring["cx"][:, None] + c * xp - s * yp
    ring["knot_y"] = ring["cy"][:, None] + s * xp + c * yp
    ring["n_knots"] = n_knots
    return ring


def _rings(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A ring galaxy: a galaxy with a knotty star-forming ring in its disc's plane, at 1.5-3.5
    half-light radii, its centre offset from the nucleus in collisional rings (see
    :class:`~lensfind.sim.config.RingPriors`). Priors: ``config.ring``."""
    config, rng, count = block.config, block.rng, rows.size
    galaxy = _draw_galaxy(block, rows, exposure)
    ring = _draw_ring(rng, config.ring, galaxy, count)
    block.params["light_r_sersic"][rows] = galaxy["r"]
    flux = flux_from_magnitude(ring["mag"], exposure[rows], config.noise.zero_point)
    diffuse_amp = flux * ring["diffuse"] / profiles.gaussian_ring_flux(1.0, ring["radius"],
                                                                      ring["width"])
    knot_flux = (flux * (1.0 - ring["diffuse"]))[:, None] * ring["knot_share"]
    _render_galaxy(block, rows, galaxy)
    for chunk in _chunks(count, RENDER):
        part = {key: value[chunk] for key, value in ring.items()}
        brightness = profiles.gaussian_ring(block.x, block.y, diffuse_amp[chunk], part["radius"],
                                            part["width"], part["e1"], part["e2"], part["cx"],
                                            part["cy"], part["lopsided"], np.ones(len(part["q"])),
                                            part["lopsided_phase"])
        brightness += profiles.gaussian_knots(block.x, block.y, knot_flux[chunk],
                                              part["knot_sigma"], part["knot_x"],
                                              part["knot_y"])
        block.layer("ring")[rows[chunk]] += block.pixelate(brightness)


def _draw_spiral(rng: np.random.Generator, priors, center_max: float, count: int) -> dict:
    """Disc, arms and bulge of ``count`` spirals (``spiral`` priors); centres within
    ``center_max`` [arcsec], angles in rad."""
    spiral = {"cx": rng.uniform(-center_max, center_max, count),
              "cy": rng.uniform(-center_max, center_max, count)}
    spiral.update(_draw_orientation(rng, priors.axis_ratio, count))
    spiral["e1"], spiral["e2"] = func.phi_q_to_e(spiral["phi"], spiral["q"])
    spiral["disc_mag"] = _uniform(rng, priors.disc_magnitude, count)
    spiral["scale_length"] = _uniform(rng, priors.scale_length, count)
    spiral["arms"] = rng.integers(priors.arms[0], priors.arms[1] + 1, count).astype(float)
    spiral["pitch"] = np.deg2rad(_uniform(rng, priors.pitch, count))
    spiral["phase"] = rng.uniform(0, 2 * np.pi, count)
    spiral["contrast"] = _uniform(rng, priors.arm_contrast, count)
    spiral["bulge_mag"] = spiral["disc_mag"] + _uniform(rng, priors.bulge_magnitude_offset,
                                                        count)
    spiral["bulge_r"] = _uniform(rng, priors.bulge_r_sersic, count)
    spiral["bulge_n"] = _uniform(rng, priors.bulge_n_sersic, count)
    return spiral


def _spirals(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """A bulge + exponential disc with logarithmic spiral arms. Priors: ``config.spiral``."""
    config = block.config
    zero_point = config.noise.zero_point
    spiral = _draw_spiral(block.rng, config.spiral, config.lens.center_max, rows.size)
    disc_flux = flux_from_magnitude(spiral["disc_mag"], exposure[rows], zero_point)
    bulge_flux = flux_from_magnitude(spiral["bulge_mag"], exposure[rows], zero_point)
    disc_amp = disc_flux / profiles.exponential_disc_flux(1.0, spiral["scale_length"])
    bulge_amp = profiles.sersic_amp(bulge_flux, spiral["bulge_r"], spiral["bulge_n"])
    params = block.params
    params["light_x"][rows], params["light_y"][rows] = spiral["cx"], spiral["cy"]
    params["light_mag"][rows] = _magnitude(disc_flux + bulge_flux, exposure[rows], zero_point)
    params["light_e1"][rows], params["light_e2"][rows] = spiral["e1"], spiral["e2"]
    params["light_real"][rows] = 0
    for chunk in _chunks(rows.size, RENDER):
        part = {key: value[chunk] for key, value in spiral.items()}
        brightness = profiles.spiral_disc(block.x, block.y, disc_amp[chunk],
                                          part["scale_length"], part["e1"], part["e2"],
                                          part["cx"], part["cy"], part["arms"], part["pitch"],
                                          part["phase"], part["contrast"])
        brightness += profiles.sersic(block.x, block.y, bulge_amp[chunk], part["bulge_r"],
                                      part["bulge_n"], part["e1"], part["e2"], part["cx"],
                                      part["cy"], out=block.scratch("sb", chunk.stop - chunk.start),
                                      work=block.work)
        block.layer("spiral")[rows[chunk]] += block.pixelate(brightness)


def _real_hst(block: _Block, rows: np.ndarray, exposure: np.ndarray) -> None:
    """Cutouts of real HST images (already PSF-convolved: added after the PSF). Priors:
    ``config.real_hst``, magnitude from ``config.lens_light``."""
    config, rng, count = block.config, block.rng, rows.size
    mag = _uniform(rng, config.lens_light.magnitude, count)
    cutouts, names = hst_cutouts(rng, count, config.size, config.pixel_scale, config.real_hst)
    deep = np.array([name == "hubble_deep_field" for name in names])
    mag = mag + np.where(deep, config.real_hst.deep_field_dimming, 0.0)
    total = np.maximum(np.clip(cutouts, 0, None).sum(axis=(1, 2), dtype=np.float64), 1e-12)
    flux = flux_from_magnitude(mag, exposure[rows], config.noise.zero_point)
    block.post_psf[rows] += cutouts * (flux / total).astype(np.float32)[:, None, None]
    block.params["light_mag"][rows] = mag
    block.params["light_real"][rows] = 1


def _field_galaxies(block: _Block, exposure: np.ndarray) -> None:
    """Faint unlensed Sersic galaxies anywhere in the field (every kind, Poisson number;
    priors: ``config.field_galaxy``)."""
    config, rng = block.config, block.rng
    counts = rng.poisson(config.field_galaxies, block.n_images) if config.field_galaxies > 0 \
        else np.zeros(block.n_images, int)
    owner = np.repeat(np.arange(block.n_images), counts)
    total = owner.size
    half = config.field_of_view / 2
    x = rng.uniform(-half, half, total)
    y = rng.uniform(-half, half, total)
    galaxy = _draw_size(rng, config.field_galaxy, total)
    galaxy.update(_draw_orientation(rng, config.field_galaxy.axis_ratio, total))
    if total == 0:
        return
    e1, e2 = func.phi_q_to_e(galaxy["phi"], galaxy["q"])
    flux = flux_from_magnitude(galaxy["mag"], exposure[owner], config.noise.zero_point)
    amp = profiles.sersic_amp(flux, galaxy["r"], galaxy["n"])
    for chunk in _chunks(total, RENDER):
        brightness = profiles.sersic(block.x, block.y, amp[chunk], galaxy["r"][chunk],
                                     galaxy["n"][chunk], e1[chunk], e2[chunk], x[chunk],
                                     y[chunk], out=block.scratch("sb", chunk.stop - chunk.start),
                                     work=block.work)
        image = block.pixelate(brightness)
        for i, row in enumerate(owner[chunk]):
            block.layer("field")[row] += image[i]


#: kind -> function adding systems of that kind to a block
_KIND_FUNCS = {"lens": _lenses, "lens_galaxy": _lens_galaxies, "neighbour": _neighbours,
               "star": _stars, "ring": _rings, "spiral": _spirals, "real_hst": _real_hst}


# --------------------------------------------------------------------------------------------
# one block


def _draw_conditions(block: _Block) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exposure [s], sky [e- per pixel] and PSF FWHM [arcsec] of every image (recorded in the
    params)."""
    config, rng, n_images = block.config, block.rng, block.n_images
    noise = config.noise
    exposure = _uniform(rng, noise.exposure_time, n_images)
    sky_mag = _uniform(rng, noise.sky_magnitude, n_images)
    fwhm = _uniform(rng, config.psf.fwhm, n_images)
    sky = flux_from_magnitude(sky_mag, exposure, noise.zero_point) * config.pixel_scale ** 2
    params = block.params
    params["exposure_time"][:] = exposure
    params["sky"][:] = sky if noise.enabled else 0.0
    params["background_rms"][:] = np.sqrt(sky + noise.read_noise ** 2) if noise.enabled else 0.0
    params["psf_fwhm"][:] = fwhm if config.psf.kind != "image" else np.nan
    return exposure, sky, fwhm


def _convolve(block: _Block, fwhm: np.ndarray, pre_psf: np.ndarray | None = None,
              post_psf: np.ndarray | None = None, sources: dict | None = None,
              psf_image: str = "") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PSF-convolved scene (plus the post-PSF part) and, separately, the lensed sources:
    ``(signal (N, n, n), source rows, convolved sources)`` in electrons.

    A band (:func:`_band_images`) passes its own pre- and post-PSF scene, its lensed sources
    (row -> image, as ``block.lensed_sources``) and its PSF kernel file."""
    config, n_images = block.config, block.n_images
    psf = config.psf if not psf_image else dataclasses.replace(config.psf, image_path=psf_image)
    pre_psf = block.pre_psf if pre_psf is None else pre_psf
    post_psf = block.post_psf if post_psf is None else post_psf
    sources = block.lensed_sources if sources is None else sources
    source_rows = np.array(sorted(sources), dtype=int)
    kernels_1d = None
    if psf.kind == "gaussian":
        kernels_1d = observe.gaussian_kernels_1d(fwhm, psf.kernel_size, config.pixel_scale)
        kernels = np.empty((n_images, psf.kernel_size, psf.kernel_size), np.float32)
    else:
        kernels = observe.psf_kernels(psf, fwhm, config.pixel_scale)
    stack, index = pre_psf, None
    if source_rows.size:
        stack = np.concatenate([pre_psf, np.stack([sources[r] for r in source_rows])])
        if kernels.shape[0] > 1:
            index = np.concatenate([np.arange(n_images), source_rows])
    convolved = observe.convolve(stack, kernels, index, kernels_1d)
    signal = convolved[:n_images] + post_psf
    sources = convolved[n_images:]
    if source_rows.size:
        signal[source_rows] += sources
    return signal, source_rows, sources


def _observe(block: _Block, rng: np.random.Generator, signal: np.ndarray,
             source_rows: np.ndarray, sources: np.ndarray, sky: np.ndarray,
             read_noise: float) -> tuple[np.ndarray, np.ndarray]:
    """Noise (``simulation.noise``) and detector artifacts on ``signal`` [e-]: the images and
    the S/N of the convolved ``sources`` (rows ``source_rows``; inf without noise)."""
    config = block.config
    if not config.noise.enabled:
        images = signal.astype(np.float32)
        observe.add_artifacts(rng, images, config.artifacts,
                              np.full(block.n_images, max(read_noise, 1.0)))
        return images, np.full(source_rows.size, np.inf)
    images = observe.add_noise(rng, signal, sky, read_noise, config.noise.poisson)
    snr = np.empty(0)
    if source_rows.size:
        var = observe.noise_variance(signal[source_rows], sky[source_rows], read_noise)
        snr = np.sqrt((sources.astype(np.float64) ** 2 / var).sum(axis=(1, 2)))
    observe.add_artifacts(rng, images, config.artifacts, np.sqrt(sky + read_noise ** 2))
    return images, snr


#: the colour class of the ``light_*`` params of each kind (else ``"early_type"``)
_LIGHT_COLOUR = {"spiral": "spiral", "real_hst": "real_hst"}


def _band_images(block: _Block, seed: int, block_index: int, redraw: int,
                 exposure: np.ndarray) -> np.ndarray:
    """Images ``(N, n, n, C)`` [e-] in ``simulation.bands``: each colour layer of the block
    (rendered in reference electrons: ``noise.zero_point`` and ``exposure``) scaled by its
    colour (:data:`~lensfind.sim.colours.COLOURS`, one ``t`` per class and image from stream
    ``(6, block, redraw)``) and the band's zero point and exposure, then the band's PSF, sky
    and noise (stream ``(5, block, redraw, band)``). Real deep-field light already in its own
    colours (``block.band_sources``, ``block.band_layer``) takes the zero point and exposure
    only. Records per-band params
    (:data:`~lensfind.sim.params.BAND_PARAMS`); ``exposure_time``, ``sky``,
    ``background_rms`` and ``psf_fwhm`` are the first band's, ``snr`` the bands' in quadrature.
    """
    config, n_images, params = block.config, block.n_images, block.params
    noise = config.noise
    colours = _stream(seed, 6, block_index, redraw)
    colour_t = dict(zip(COLOURS, colours.random((len(COLOURS), n_images))))
    kind_names = np.array(KINDS)[block.kinds]
    images = np.empty(block.pre_psf.shape + (len(config.bands),), np.float32)
    snr2 = np.zeros(n_images)
    for c, band in enumerate(config.bands):
        rng = _stream(seed, 5, block_index, redraw, c)
        band_exposure = _uniform(rng, band.exposure_time, n_images)
        sky_mag = _uniform(rng, band.sky_magnitude, n_images)
        fwhm = _uniform(rng, band.psf_fwhm, n_images)
        sky = flux_from_magnitude(sky_mag, band_exposure, band.zero_point) * config.pixel_scale ** 2
        offsets = {colour: lo_hi[band.name][0] + colour_t[colour]
                   * (lo_hi[band.name][1] - lo_hi[band.name][0])
                   for colour, lo_hi in COLOURS.items()}

        def scale(colour: str | None) -> np.ndarray:   # reference e- -> this band's, (N,)
            offset = 0.0 if colour is None else offsets[colour]
            return band_exposure / exposure * 10.0 ** (
                -0.4 * (offset - band.zero_point + noise.zero_point))

        pre = np.zeros_like(block.pre_psf)
        for colour, layer in block.layers.items():
            pre += layer * scale(colour).astype(np.float32)[:, None, None]
        own = scale(None).astype(np.float32)
        if block.band_layer is not None:
            pre += block.band_layer[c] * own[:, None, None]
        post = block.post_psf * scale("real_hst").astype(np.float32)[:, None, None]
        prior = scale("source").astype(np.float32)
        band_sources = {row: block.band_sources[row][c] * own[row] if row in block.band_sources
                        else image * prior[row] for row, image in block.lensed_sources.items()}
        signal, rows, sources = _convolve(block, fwhm, pre, post, band_sources, band.psf_image)
        images[..., c], snr = _observe(block, rng, signal, rows, sources, sky, band.read_noise)
        snr2[rows] += snr ** 2
        light_offset = np.array([offsets[_LIGHT_COLOUR.get(k, "early_type")][i]
                                 for i, k in enumerate(kind_names)])
        band_params = {"exposure_time": band_exposure,
                       "sky": sky if noise.enabled else np.zeros(n_images),
                       "background_rms": np.sqrt(sky + band.read_noise ** 2) if noise.enabled
                       else np.zeros(n_images),
                       "psf_fwhm": fwhm if config.psf.kind != "image" else np.full(n_images,
                                                                                    np.nan),
                       "snr": np.full(n_images, np.nan),
                       "light_mag": params["light_mag"] + light_offset,
                       "source_mag": params["source_mag"] + offsets["source"]}
        for row, own_offsets in block.band_source_offsets.items():
            band_params["source_mag"][row] = params["source_mag"][row] + own_offsets[c]
        band_params["snr"][rows] = snr
        for name in BAND_PARAMS:
            params[band_param(name, band.name)] = band_params[name]
        if c == 0:
            for name in ("exposure_time", "sky", "background_rms", "psf_fwhm"):
                params[name] = band_params[name].copy()
    params["snr"][rows] = np.sqrt(snr2[rows])
    return images


def _stream(seed: int, *key: int) -> np.random.Generator:
    """The random stream ``SeedSequence(seed, spawn_key=key)``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _simulate_block(config: SimConfig, seed: int, block_index: int, kinds: np.ndarray,
                    force_class: int | None = None, redraw: int = 0) -> SimBatch:
    """The systems ``kinds`` of block ``block_index`` (see the module docstring); ``redraw``
    > 0 draws them from that redraw's streams."""
    keys = ((1, block_index), (2, block_index)) if redraw == 0 else \
        ((3, block_index, redraw), (4, block_index, redraw))
    rng = _stream(seed, *keys[0])
    sub_rng = _stream(seed, *keys[1]) if config.substructure.enabled else None
    block = _Block(config, rng, kinds, sub_rng, force_class)
    noise = config.noise
    n_images = kinds.size
    exposure, sky, fwhm = _draw_conditions(block)
    for code, name in enumerate(KINDS):
        rows = np.flatnonzero(kinds == code)
        if rows.size:
            _KIND_FUNCS[name](block, rows, exposure)
    _field_galaxies(block, exposure)
    params = block.params
    if config.bands:
        images = _band_images(block, seed, block_index, redraw, exposure)
    else:
        signal, source_rows, sources = _convolve(block, fwhm)
        images, params["snr"][source_rows] = _observe(block, rng, signal, source_rows, sources,
                                                      sky, noise.read_noise)
    labels = (kinds == 0).astype(np.int8)
    names = np.array(KINDS)[kinds]
    return SimBatch(images, labels, names, np.zeros(n_images, np.int64),
                    {k: v.astype(np.float32) for k, v in params.items()})


# --------------------------------------------------------------------------------------------
# public API


def _simulate_floored_block(config: SimConfig, seed: int, block_index: int,
                            kinds: np.ndarray) -> SimBatch:
    """:func:`_simulate_block`, its lenses below ``simulation.source.min_snr`` drawn again."""
    batch = _simulate_block(config, seed, block_index, kinds)
    floor = config.source.min_snr
    if floor <= 0:
        return batch
    for redraw in range(1, MAX_REDRAWS + 1):
        faint = np.flatnonzero((batch.labels == 1) & ~(batch.params["snr"] >= floor))
        if not faint.size:
            return batch
        again = _simulate_block(config, seed, block_index, kinds[faint], redraw=redraw)
        batch.images[faint] = again.images
        for name, values in batch.params.items():
            values[faint] = again.params[name]
    raise ValueError(
        f"simulation.source.min_snr = {floor!r} is invalid for these priors: {faint.size} "
        f"lens(es) of block {block_index} still had a lensed-source S/N below it after "
        f"{MAX_REDRAWS} redraws; expected a floor most draws reach (lower it, or make the "
        "sources brighter or the exposures longer)")


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed = {seed!r} is invalid: expected an integer >= 0")
    return int(seed)


def simulate_chunks(config: SimConfig, *, seed: int, chunk_size: int = 256,
                    n_lenses: int | None = None,
                    n_nonlenses: int | None = None) -> Iterator[SimBatch]:
    """Simulate the set chunk by chunk (``chunk_size`` images each, the last one shorter).

    Concatenating the chunks gives exactly (bit for bit) :func:`simulate` with the same seed.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ValueError(f"chunk_size = {chunk_size!r} is invalid: expected an integer >= 1")
    seed = _check_seed(seed)
    kinds = plan(config, seed, n_lenses, n_nonlenses)
    total = kinds.size
    pending: list[SimBatch] = []
    n_pending = 0
    for block_index, rows in enumerate(_chunks(total, BLOCK)):
        batch = _simulate_floored_block(config, seed, block_index, kinds[rows])
        batch.system_id = np.arange(rows.start, rows.stop, dtype=np.int64)
        pending.append(batch)
        n_pending += len(batch)
        while n_pending >= chunk_size:
            merged = SimBatch.concatenate(pending) if len(pending) > 1 else pending[0]
            yield merged.subset(slice(0, chunk_size))
            rest = merged.subset(slice(chunk_size, None))
            pending = [rest] if len(rest) else []
            n_pending = len(rest)
    if n_pending:
        yield SimBatch.concatenate(pending) if len(pending) > 1 else pending[0]


def simulate(config: SimConfig, *, seed: int, n_lenses: int | None = None,
             n_nonlenses: int | None = None) -> SimBatch:
    """Simulate ``n_lenses`` lenses and ``n_nonlenses`` non-lenses (defaults from ``config``),
    shuffled; the same ``seed`` and config give bit-identical output."""
    chunks = list(simulate_chunks(config, seed=seed, chunk_size=BLOCK, n_lenses=n_lenses,
                                  n_nonlenses=n_nonlenses))
    return SimBatch.concatenate(chunks) if len(chunks) > 1 else chunks[0]


def substructure_variants(config: SimConfig, seed: int, *,
                          noise: bool = True) -> dict[str, np.ndarray]:
    """One lens rendered once per substructure class, for figures of what substructure does.

    The system is the first lens of ``simulate(config, seed=seed, n_lenses=1, n_nonlenses=0)``:
    the same lens, source and subhalo/vortex draws for every class (the class only decides what
    is added). Classes are ``config.substructure.classes``, or every class of
    :data:`~lensfind.sim.config.SUBSTRUCTURE_CLASSES` when those are empty. With ``noise=True``
    each image is exactly what :func:`simulate` gives that lens when it draws that class (the
    noise is largely shared between classes: the same Gaussian draws, but the exact Poisson
    draws of faint pixels depend on the counts); ``noise=False`` switches noise and detector
    artifacts off, so that differences between the images are the substructure alone.

    Returns ``{class name: image}``, float32 ``(size, size)`` in electrons, in class order.
    """
    seed = _check_seed(seed)
    if not config.substructure.enabled:
        config = config.replace(substructure={"classes": tuple(SUBSTRUCTURE_CLASSES),
                                              "fractions": ()})
    if not noise:
        config = config.replace(noise={"enabled": False},
                                artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0,
                                           "mask_probability": 0.0})
    kinds = plan(config, seed, 1, 0)
    return {name: _simulate_block(config, seed, 0, kinds, force_class=index).images[0]
            for index, name in enumerate(config.substructure.classes)}
