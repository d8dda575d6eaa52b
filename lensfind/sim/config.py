"""The ``[simulation]`` table of an experiment file: what :func:`~lensfind.sim.simulate.simulate`
makes.

Every range written ``[low, high]`` is a uniform prior (``low == high`` fixes the value). Angles are
in arcsec, fluxes are AB magnitudes turned into electrons with ``noise.zero_point`` (the magnitude
giving 1 e-/s) and the exposure time. The defaults give HST/ACS-F814W-like cutouts of 100 x 100
pixels at 0.05 arcsec/pixel and can be used as they are.

Example (TOML)::

    [simulation]
    size = 100
    pixel_scale = 0.05
    n_lenses = 5000
    n_nonlenses = 5000

    [simulation.lens]
    theta_e = [0.5, 1.5]

    [simulation.source]
    kind = "mixed"          # "sersic", "real" or "mixed"

    [simulation.negatives]  # relative weights of the non-lens kinds
    lens_galaxy = 2.0
    star = 0.0

    [simulation.ring]       # priors of a non-lens kind
    radius = [0.5, 1.5]

    [simulation.substructure]   # dark-matter substructure classes of the lenses (off if empty)
    classes = ["no_sub", "cdm", "axion"]
"""
from __future__ import annotations

import dataclasses

from lensfind.sim.colours import BAND_NAMES
from lensfind.validation import check_choice, check_interval, check_range, fail, from_mapping

SOURCE_KINDS = ("sersic", "real", "mixed")
LIGHT_KINDS = ("sersic", "real", "mixed")
PSF_KINDS = ("gaussian", "moffat", "image")
NEGATIVE_KINDS = ("lens_galaxy", "neighbour", "star", "ring", "spiral", "real_hst")


def _check_int(field: str, value, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(field, value, "an integer")
    check_range(field, value, lo, hi)
    return value


def _check_bool(field: str, value) -> bool:
    if not isinstance(value, bool):
        fail(field, value, "true or false")
    return value


def _check_axis_ratio(field: str, value) -> None:
    check_interval(field, value, 0.0, 1.0, lo_open=True)


def _check_int_interval(field: str, value, lo: int, hi: int) -> tuple[int, int]:
    """A ``[low, high]`` range of integers (both included) inside ``[lo, hi]``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2 or any(
            isinstance(v, bool) or not isinstance(v, int) for v in value):
        fail(field, value, f"a list of two integers [low, high] in [{lo}, {hi}]")
    check_interval(field, value, lo, hi)
    return value[0], value[1]


@dataclasses.dataclass(frozen=True)
class LensPriors:
    """Priors of the lens mass: a singular isothermal ellipsoid plus external shear.

    Attributes:
        theta_e: Einstein radius [arcsec] (lenstronomy's convention: product average of the
            major and minor axis Einstein radii).
        axis_ratio: minor/major axis ratio q of the SIE convergence, in (0, 1].
        center_max: the lens centre is drawn uniformly in the square
            [-center_max, center_max]^2 arcsec around the cutout centre (lens-centre translation);
            default 0.1" (2 pixels). Cutouts centred on catalogue positions can be off by a few
            pixels: the opt-in wider priors (``experiments/cv-lensflow-wide.toml``) use 0.25"
            (5 pixels; a choice).
        shear: magnitude of the external shear; its angle is uniform.
    """

    theta_e: tuple[float, float] = (0.5, 1.5)
    axis_ratio: tuple[float, float] = (0.5, 1.0)
    center_max: float = 0.1
    shear: tuple[float, float] = (0.0, 0.08)

    def __post_init__(self):
        check_interval("simulation.lens.theta_e", self.theta_e, 0.0, 100.0, lo_open=True)
        _check_axis_ratio("simulation.lens.axis_ratio", self.axis_ratio)
        check_range("simulation.lens.center_max", self.center_max, 0.0, 100.0)
        check_interval("simulation.lens.shear", self.shear, 0.0, 0.5, hi_open=True)


@dataclasses.dataclass(frozen=True)
class SourcePriors:
    """Priors of the lensed background source.

    Attributes:
        kind: ``"sersic"`` (elliptical Sersic), ``"real"`` (galaxy stamps from real images shipped
            in installed packages, see :mod:`lensfind.sim.sources`) or ``"mixed"``.
        real_fraction: with ``kind = "mixed"``, the probability of a real-galaxy source.
        magnitude: unlensed total AB magnitude.
        r_sersic: Sersic half-light radius [arcsec] (for real sources: the stamp's half-light
            radius is scaled to this); default [0.05, 0.3]. Lensed sources at z ~ 0.5-3 are
            ~0.5-4 kpc (0.05-0.5"), the upper end giving thick arcs and full rings: the opt-in
            wider priors (``experiments/cv-lensflow-wide.toml``) use [0.05, 0.5] (a choice).
        n_sersic: Sersic index.
        axis_ratio: minor/major axis ratio.
        offset: distance of the source centre from the lens centre in units of the Einstein
            radius (area-uniform in the annulus); < ~1 gives multiple images; default
            [0.0, 0.6]: up to ~0.6 a counter-image holds >= 1/4 of the arc's flux (doubles,
            quads, rings). The opt-in wider priors (``experiments/cv-lensflow-wide.toml``) use
            [0.0, 0.9], adding single arcs with a faint counter-image (a choice; outer images of
            large theta_E may then leave a 5" cutout: ``arc_outside_fraction``).
        min_snr: lenses whose lensed source has an S/N (the ``snr`` parameter: matched-filter
            S/N of the PSF-convolved lensed source) below this are drawn again, whole (source,
            lens, light, PSF and depth), from streams of their own, so that every lens shows its
            arcs at least this clearly; the lens prior of the set is then the prior conditioned
            on S/N >= ``min_snr``. Default 0: every draw is kept. At the defaults 0.5 % of
            lenses have S/N < 20; with the wide priors of ``experiments/reference-find.toml``
            3 % have S/N < 10 and 11 % < 20 (400 lenses each): arcs that hardly anyone can see,
            whose lens label teaches that a plain galaxy may be a lens.
    """

    kind: str = "sersic"
    real_fraction: float = 0.3
    magnitude: tuple[float, float] = (22.0, 25.5)
    r_sersic: tuple[float, float] = (0.05, 0.3)
    n_sersic: tuple[float, float] = (0.7, 2.5)
    axis_ratio: tuple[float, float] = (0.4, 1.0)
    offset: tuple[float, float] = (0.0, 0.6)
    min_snr: float = 0.0

    def __post_init__(self):
        check_choice("simulation.source.kind", self.kind, SOURCE_KINDS)
        check_range("simulation.source.real_fraction", self.real_fraction, 0.0, 1.0)
        check_interval("simulation.source.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.source.r_sersic", self.r_sersic, 0.0, 100.0, lo_open=True)
        check_interval("simulation.source.n_sersic", self.n_sersic, 0.2, 10.0)
        _check_axis_ratio("simulation.source.axis_ratio", self.axis_ratio)
        check_interval("simulation.source.offset", self.offset, 0.0, 10.0)
        check_range("simulation.source.min_snr", self.min_snr, 0.0, 1e6)


@dataclasses.dataclass(frozen=True)
class LensLightPriors:
    """Priors of the lens (deflector) galaxy light, also used for the non-lens galaxies.

    Attributes:
        kind: ``"sersic"``, ``"real"`` (HST images of nearby early-type galaxies shipped with
            mgefit) or ``"mixed"``.
        real_fraction: with ``kind = "mixed"``, the probability of a real lens-galaxy image.
        magnitude: total AB magnitude; default [19.0, 21.5]. SLACS-like lenses are lens-light
            dominated (Bolton et al. 2008, ApJ 682, 964); the opt-in wider priors
            (``experiments/cv-lensflow-wide.toml``) use [18.5, 22.0], which with the source
            magnitudes spans lens-light to lensed-arc flux ratios from below 1 to several
            hundred (a choice).
        r_sersic: half-light radius [arcsec].
        n_sersic: Sersic index.
        axis_ratio: minor/major axis ratio, used when ``follow_mass`` is false and for non-lenses.
        follow_mass: if true, the light follows the mass (drawn for every galaxy, lens or not):
            its axis ratio is the mass axis ratio + uniform(-``follow_axis_ratio_scatter``,
            +``follow_axis_ratio_scatter``) clipped to [``follow_min_axis_ratio``, 1], and its
            angle the mass angle + a Gaussian of sigma ``follow_angle_scatter``.
        follow_axis_ratio_scatter: half-width of that axis-ratio scatter; default 0.1.
        follow_min_axis_ratio: the smallest light axis ratio with ``follow_mass``; default 0.2.
        follow_angle_scatter: sigma of that angle scatter [deg]; default 10.0.

    Light and mass: in SLACS lenses the SIE and light position angles mostly agree within
    ~10 deg, with exceptions, and the axis ratios agree only on average, with ~0.1 scatter
    (Koopmans et al. 2006, ApJ 649, 599); misalignments of tens of degrees occur, notably in
    lenses that need strong external shear (Keeton, Kochanek & Falco 1998, ApJ 509, 561). The
    defaults (10 deg, +-0.1 in q) follow the typical SLACS agreement. The opt-in wider priors
    (``experiments/cv-lensflow-wide.toml``) use 30 deg and +-0.25 in q, a choice on the wide
    side so that a network cannot read the mass shape off the light more precisely than real
    lenses allow; they are not the default because at CPU scale (LensFlow, 64 px, 10 epochs)
    they lowered own-fold ROC AUC from 0.956 to 0.820 without helping on the lenstronomy
    check set (README).
    """

    kind: str = "sersic"
    real_fraction: float = 0.3
    magnitude: tuple[float, float] = (19.0, 21.5)
    r_sersic: tuple[float, float] = (0.3, 1.2)
    n_sersic: tuple[float, float] = (2.5, 5.0)
    axis_ratio: tuple[float, float] = (0.5, 1.0)
    follow_mass: bool = True
    follow_axis_ratio_scatter: float = 0.1
    follow_min_axis_ratio: float = 0.2
    follow_angle_scatter: float = 10.0

    def __post_init__(self):
        check_choice("simulation.lens_light.kind", self.kind, LIGHT_KINDS)
        check_range("simulation.lens_light.real_fraction", self.real_fraction, 0.0, 1.0)
        check_interval("simulation.lens_light.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.lens_light.r_sersic", self.r_sersic, 0.0, 100.0, lo_open=True)
        check_interval("simulation.lens_light.n_sersic", self.n_sersic, 0.2, 10.0)
        _check_axis_ratio("simulation.lens_light.axis_ratio", self.axis_ratio)
        _check_bool("simulation.lens_light.follow_mass", self.follow_mass)
        check_range("simulation.lens_light.follow_axis_ratio_scatter",
                    self.follow_axis_ratio_scatter, 0.0, 1.0)
        check_range("simulation.lens_light.follow_min_axis_ratio", self.follow_min_axis_ratio,
                    0.0, 1.0, lo_open=True)
        check_range("simulation.lens_light.follow_angle_scatter", self.follow_angle_scatter,
                    0.0, 180.0)


@dataclasses.dataclass(frozen=True)
class PSFConfig:
    """Point-spread function.

    Attributes:
        kind: ``"gaussian"``, ``"moffat"`` or ``"image"`` (a kernel read from ``image_path``).
        fwhm: full width at half maximum [arcsec] (Gaussian and Moffat), drawn per image;
            default [0.08, 0.12] (HST/ACS and WFC3 optical, ~0.08-0.1"). The opt-in wider
            priors (``experiments/cv-lensflow-wide.toml``) use [0.07, 0.2], HST to Euclid VIS
            (~0.16-0.18") (a choice).
        moffat_beta: Moffat power index (> 1).
        image_path: a ``.fits`` or ``.npy`` 2-D kernel sampled at the simulation pixel scale, odd
            side length; it is normalised to unit sum.
        kernel_size: side in pixels of the Gaussian/Moffat kernel (odd).
    """

    kind: str = "gaussian"
    fwhm: tuple[float, float] = (0.08, 0.12)
    moffat_beta: float = 3.0
    image_path: str = ""
    kernel_size: int = 21

    def __post_init__(self):
        check_choice("simulation.psf.kind", self.kind, PSF_KINDS)
        check_interval("simulation.psf.fwhm", self.fwhm, 0.0, 10.0, lo_open=True)
        check_range("simulation.psf.moffat_beta", self.moffat_beta, 1.0, 100.0, lo_open=True)
        if not isinstance(self.image_path, str):
            fail("simulation.psf.image_path", self.image_path, "a file path (string)")
        if self.kind == "image" and not self.image_path:
            fail("simulation.psf.image_path", self.image_path,
                 "the path of a .fits or .npy PSF kernel when psf.kind = 'image'")
        _check_int("simulation.psf.kernel_size", self.kernel_size, 1, 201)
        if self.kernel_size % 2 == 0:
            fail("simulation.psf.kernel_size", self.kernel_size, "an odd number of pixels")


@dataclasses.dataclass(frozen=True)
class NoiseConfig:
    """Detector and sky noise. Images are in electrons, sky-subtracted.

    Attributes:
        enabled: false gives noiseless images (for tests and figures).
        exposure_time: seconds, drawn per image; default [1000, 2400]. The opt-in wider
            priors (``experiments/cv-lensflow-wide.toml``) use [600, 2400] (one to a few HST
            orbits' worth; a choice).
        zero_point: AB magnitude that gives 1 electron per second.
        sky_magnitude: sky surface brightness [AB mag / arcsec^2], drawn per image.
        read_noise: Gaussian read noise per pixel [electrons] (combined over the exposures).
        poisson: Poisson shot noise of source + lens + sky counts (else Gaussian only).
    """

    enabled: bool = True
    exposure_time: tuple[float, float] = (1000.0, 2400.0)
    zero_point: float = 25.94
    sky_magnitude: tuple[float, float] = (21.8, 22.6)
    read_noise: float = 5.0
    poisson: bool = True

    def __post_init__(self):
        _check_bool("simulation.noise.enabled", self.enabled)
        check_interval("simulation.noise.exposure_time", self.exposure_time, 0.0, 1e7,
                       lo_open=True)
        check_range("simulation.noise.zero_point", self.zero_point, 0.0, 50.0)
        check_interval("simulation.noise.sky_magnitude", self.sky_magnitude, 0.0, 50.0)
        check_range("simulation.noise.read_noise", self.read_noise, 0.0, 1e6)
        _check_bool("simulation.noise.poisson", self.poisson)


@dataclasses.dataclass(frozen=True)
class BandConfig:
    """One band of a multi-band simulation (an entry of ``[[simulation.bands]]``).

    Its noise and PSF replace ``[simulation.noise]``'s exposure, zero point, sky and read noise
    and ``[simulation.psf]``'s FWHM (or kernel) for this band; the PSF kind, Poisson switch and
    artifacts stay shared. Colours come from :data:`lensfind.sim.colours.COLOURS`.

    Attributes:
        name: a band of :data:`lensfind.sim.colours.BAND_NAMES` (its colour offsets).
        zero_point: AB magnitude that gives 1 electron per second.
        exposure_time: seconds, drawn per image.
        sky_magnitude: sky surface brightness [AB mag / arcsec^2], drawn per image.
        read_noise: Gaussian read noise per pixel [electrons] (combined over the exposures).
        psf_fwhm: PSF FWHM [arcsec], drawn per image (Gaussian and Moffat PSFs).
        psf_image: a ``.fits`` or ``.npy`` kernel for this band (with ``psf.kind = "image"``).
    """

    name: str = "F814W"
    zero_point: float = 25.94
    exposure_time: tuple[float, float] = (1000.0, 2400.0)
    sky_magnitude: tuple[float, float] = (21.8, 22.6)
    read_noise: float = 5.0
    psf_fwhm: tuple[float, float] = (0.08, 0.12)
    psf_image: str = ""

    def __post_init__(self):
        field = f"simulation.bands[{self.name!r}]"
        check_choice("simulation.bands.name", self.name, BAND_NAMES)
        check_range(f"{field}.zero_point", self.zero_point, 0.0, 50.0)
        check_interval(f"{field}.exposure_time", self.exposure_time, 0.0, 1e7, lo_open=True)
        check_interval(f"{field}.sky_magnitude", self.sky_magnitude, 0.0, 50.0)
        check_range(f"{field}.read_noise", self.read_noise, 0.0, 1e6)
        check_interval(f"{field}.psf_fwhm", self.psf_fwhm, 0.0, 10.0, lo_open=True)
        if not isinstance(self.psf_image, str):
            fail(f"{field}.psf_image", self.psf_image, "a file path (string)")


@dataclasses.dataclass(frozen=True)
class ArtifactsConfig:
    """Detector artifacts added after the noise.

    Attributes:
        cosmic_rays: mean number of cosmic-ray tracks per image (Poisson).
        hot_pixels: mean number of hot pixels per image (Poisson).
        mask_probability: probability that an image has masked pixels (value 0): a bad column,
            a rectangular gap or a scatter of dead pixels.
        cosmic_ray_length: length of a cosmic-ray track [pixels]; default [1.0, 12.0].
        cosmic_ray_amplitude: counts added along a track, in units of the image's background
            noise sigma (each pixel gets 0.5 to 1 times it); default [20.0, 300.0].
        hot_pixel_amplitude: counts of a hot pixel in background noise sigmas; default
            [10.0, 200.0].
        dead_pixel_fraction: fraction of dead pixels in a "scatter of dead pixels" mask;
            default [0.002, 0.02].
    """

    cosmic_rays: float = 0.5
    hot_pixels: float = 1.0
    mask_probability: float = 0.05
    cosmic_ray_length: tuple[float, float] = (1.0, 12.0)
    cosmic_ray_amplitude: tuple[float, float] = (20.0, 300.0)
    hot_pixel_amplitude: tuple[float, float] = (10.0, 200.0)
    dead_pixel_fraction: tuple[float, float] = (0.002, 0.02)

    def __post_init__(self):
        check_range("simulation.artifacts.cosmic_rays", self.cosmic_rays, 0.0, 100.0)
        check_range("simulation.artifacts.hot_pixels", self.hot_pixels, 0.0, 1000.0)
        check_range("simulation.artifacts.mask_probability", self.mask_probability, 0.0, 1.0)
        check_interval("simulation.artifacts.cosmic_ray_length", self.cosmic_ray_length,
                       0.0, 1e4)
        check_interval("simulation.artifacts.cosmic_ray_amplitude", self.cosmic_ray_amplitude,
                       0.0, 1e6)
        check_interval("simulation.artifacts.hot_pixel_amplitude", self.hot_pixel_amplitude,
                       0.0, 1e6)
        check_interval("simulation.artifacts.dead_pixel_fraction", self.dead_pixel_fraction,
                       0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class NegativesConfig:
    """Relative weights of the non-lens kinds (normalised; 0 switches a kind off).

    Attributes:
        lens_galaxy: a lens-like galaxy without a lensed source.
        neighbour: a galaxy with an unlensed neighbour galaxy.
        star: one or more stars (optionally next to a galaxy).
        ring: a ring galaxy (resonance or collisional ring, knotty, in the disc's plane;
            :class:`RingPriors`): a hard negative.
        spiral: a spiral galaxy with arm structure: a hard negative.
        real_hst: a cutout of a real HST image (mgefit's galaxy images).
    """

    lens_galaxy: float = 1.0
    neighbour: float = 1.0
    star: float = 0.5
    ring: float = 0.5
    spiral: float = 0.5
    real_hst: float = 0.5

    def __post_init__(self):
        for kind in NEGATIVE_KINDS:
            check_range(f"simulation.negatives.{kind}", getattr(self, kind), 0.0, 1e6)
        if sum(getattr(self, kind) for kind in NEGATIVE_KINDS) <= 0:
            fail("simulation.negatives", self.weights(), "at least one weight > 0")

    def weights(self) -> dict[str, float]:
        """Kind -> weight (not normalised)."""
        return {kind: float(getattr(self, kind)) for kind in NEGATIVE_KINDS}


@dataclasses.dataclass(frozen=True)
class NeighbourPriors:
    """Priors of the non-lens kind ``neighbour``: a galaxy (``lens_light`` priors) and an unlensed
    neighbour galaxy, often elongated and aligned tangentially (arc-like). The neighbour is drawn
    like a source: its ``kind``, ``real_fraction`` and ``n_sersic`` are those of
    ``[simulation.source]``, the rest is set here.

    Attributes:
        distance: distance of the neighbour from the galaxy centre [arcsec]; default
            [0.6, 2.2].
        tangential_fraction: probability that the neighbour's major axis is tangential (else its
            angle is uniform); default 0.5.
        magnitude: total AB magnitude of the neighbour [mag]; default [21.0, 24.5].
        r_sersic: half-light radius of the neighbour [arcsec]; default [0.08, 0.5].
        axis_ratio: minor/major axis ratio of the neighbour, in (0, 1]; default [0.2, 1.0].
    """

    distance: tuple[float, float] = (0.6, 2.2)
    tangential_fraction: float = 0.5
    magnitude: tuple[float, float] = (21.0, 24.5)
    r_sersic: tuple[float, float] = (0.08, 0.5)
    axis_ratio: tuple[float, float] = (0.2, 1.0)

    def __post_init__(self):
        check_interval("simulation.neighbour.distance", self.distance, 0.0, 100.0)
        check_range("simulation.neighbour.tangential_fraction", self.tangential_fraction,
                    0.0, 1.0)
        check_interval("simulation.neighbour.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.neighbour.r_sersic", self.r_sersic, 0.0, 100.0,
                       lo_open=True)
        _check_axis_ratio("simulation.neighbour.axis_ratio", self.axis_ratio)


@dataclasses.dataclass(frozen=True)
class StarPriors:
    """Priors of the non-lens kind ``star``: stars with diffraction spikes (HST-like), half the
    time next to a galaxy (``lens_light`` priors). Stars lie anywhere in the cutout, except that
    the first one is often near the centre.

    Attributes:
        count: number of stars per cutout, integers [low, high] (uniform); default [1, 3].
        magnitude: total AB magnitude of each star [mag]; default [18.0, 23.5].
        with_galaxy_fraction: probability that the cutout also holds a galaxy; default 0.5.
        central_fraction: probability that the first star is near the centre; default 0.5.
        central_offset: such a star lies in the square [-central_offset, central_offset]^2
            [arcsec] around the cutout centre; default 0.3.
        spike_fraction: fraction of a star's flux in its four diffraction spikes; default 0.03.
    """

    count: tuple[int, int] = (1, 3)
    magnitude: tuple[float, float] = (18.0, 23.5)
    with_galaxy_fraction: float = 0.5
    central_fraction: float = 0.5
    central_offset: float = 0.3
    spike_fraction: float = 0.03

    def __post_init__(self):
        _check_int_interval("simulation.star.count", self.count, 1, 100)
        check_interval("simulation.star.magnitude", self.magnitude, 0.0, 40.0)
        check_range("simulation.star.with_galaxy_fraction", self.with_galaxy_fraction, 0.0, 1.0)
        check_range("simulation.star.central_fraction", self.central_fraction, 0.0, 1.0)
        check_range("simulation.star.central_offset", self.central_offset, 0.0, 100.0)
        check_range("simulation.star.spike_fraction", self.spike_fraction, 0.0, 1.0,
                    hi_open=True)


@dataclasses.dataclass(frozen=True)
class RingPriors:
    """Priors of the non-lens kind ``ring``: a ring galaxy. The host is a galaxy (``lens_light``
    priors, except its half-light radius, which is set by the ring) with a knotty, star-forming
    ring in the plane of its disc. What tells it from an Einstein ring, and where each number
    comes from:

    * **Knots.** Rings of ring galaxies are where stars form: chains of HII regions and young
      clusters (Buta & Combes 1996, Fund. Cosmic Phys. 17, 95, for resonance rings; Appleton &
      Struck-Marcell 1996, Fund. Cosmic Phys. 16, 111, for collisional rings such as the
      Cartwheel). Here a share ``diffuse_fraction`` of the ring's light is a smooth elliptical
      Gaussian ring and the rest is ``knots`` circular Gaussian knots of sigma ``knot_sigma`` at
      uniform random angles on the ring (radial jitter of one ring width), with log-normal
      fluxes of sigma ``knot_flux_scatter`` [dex]. The numbers of knots, their sizes and the
      smooth share are choices (a few to tens of knots are what HST images of such rings show;
      at 0.05"/pixel a kpc-sized star-forming complex at z ~ 0.2 is ~0.3").
    * **Inclination.** The ring is circular in the disc plane, so on the sky it is an ellipse
      with the disc's axis ratio (``disc_axis_ratio``, uniform: uniform in cos i; near edge-on
      discs, where a ring cannot be recognised, are left out: a choice) at the host's position
      angle. An Einstein ring's shape is set by the mass and the source, not by the galaxy's
      disc.
    * **Size.** Outer resonance rings lie near the outer Lindblad resonance, about 2.2 bar radii
      (Buta & Combes 1996), at several kpc; collisional rings expand to ~10-20 kpc (Appleton &
      Struck-Marcell 1996). The ring radius is drawn in arcsec (``radius``; 0.8-2.2" is
      ~2-12 kpc at z = 0.15-0.4: a choice that keeps the ring in a 5" cutout) and the host's
      half-light radius is ``radius / radius_over_r_e``: the ring sits at 1.5-3.5 half-light
      radii of its galaxy (a choice), where a lens's theta_E is typically about half its
      effective radius (SLACS; Auger et al. 2009, ApJ 705, 1099).
    * **Offset nucleus.** In off-centre collisions the nucleus is displaced from the ring
      centre and the ring is lopsided, brighter on one side (Appleton & Struck-Marcell 1996).
      A share ``collisional_fraction`` of rings (a choice) has its centre displaced from the
      nucleus by ``nucleus_offset`` ring radii in a random direction, and a smooth part
      modulated by ``1 + lopsidedness cos(theta - theta_0)``.
    * **No counter-images.** Nothing is lensed: there is no counter-image and no arc curvature
      about a mass centre other than the ring's own.

    Outside these priors (not simulated): inner rings near the bar end (~1 R_e), polar rings,
    nuclear rings (< 1 kpc), pseudo-rings made of wound spiral arms, colour (single band), and
    collisional rings with an emptied, companion-disturbed disc.

    Attributes:
        radius: ring radius [arcsec] (elliptical radius sqrt(q x^2 + y^2 / q), the geometric
            mean of its semi-axes); default [0.8, 2.2].
        radius_over_r_e: ring radius / host half-light radius; default [1.5, 3.5].
        width: Gaussian sigma of the smooth ring's profile [arcsec]; default [0.04, 0.15].
        magnitude: total AB magnitude of the ring (smooth part plus knots) [mag]; default
            [20.5, 23.5].
        disc_axis_ratio: axis ratio of the disc, hence of the ring, in (0, 1]; default
            [0.35, 1.0].
        diffuse_fraction: share of the ring's light in its smooth part; default [0.2, 0.6].
        knots: number of knots, integers [low, high]; default [6, 20].
        knot_sigma: Gaussian sigma of a knot [arcsec]; default [0.02, 0.08].
        knot_flux_scatter: sigma of log10 knot flux [dex]; default 0.3.
        collisional_fraction: share of collisional rings (offset nucleus, lopsided); default
            0.4.
        nucleus_offset: distance of the ring centre from the nucleus in ring radii, for
            collisional rings; default [0.1, 0.5].
        lopsidedness: amplitude of the one-sided modulation of a collisional ring's smooth part;
            default [0.2, 0.8].
    """

    radius: tuple[float, float] = (0.8, 2.2)
    radius_over_r_e: tuple[float, float] = (1.5, 3.5)
    width: tuple[float, float] = (0.04, 0.15)
    magnitude: tuple[float, float] = (20.5, 23.5)
    disc_axis_ratio: tuple[float, float] = (0.35, 1.0)
    diffuse_fraction: tuple[float, float] = (0.2, 0.6)
    knots: tuple[int, int] = (6, 20)
    knot_sigma: tuple[float, float] = (0.02, 0.08)
    knot_flux_scatter: float = 0.3
    collisional_fraction: float = 0.4
    nucleus_offset: tuple[float, float] = (0.1, 0.5)
    lopsidedness: tuple[float, float] = (0.2, 0.8)

    def __post_init__(self):
        check_interval("simulation.ring.radius", self.radius, 0.0, 100.0, lo_open=True)
        check_interval("simulation.ring.radius_over_r_e", self.radius_over_r_e, 0.0, 100.0,
                       lo_open=True)
        check_interval("simulation.ring.width", self.width, 0.0, 100.0, lo_open=True)
        check_interval("simulation.ring.magnitude", self.magnitude, 0.0, 40.0)
        _check_axis_ratio("simulation.ring.disc_axis_ratio", self.disc_axis_ratio)
        check_interval("simulation.ring.diffuse_fraction", self.diffuse_fraction, 0.0, 1.0)
        _check_int_interval("simulation.ring.knots", self.knots, 0, 200)
        check_interval("simulation.ring.knot_sigma", self.knot_sigma, 0.0, 100.0,
                       lo_open=True)
        check_range("simulation.ring.knot_flux_scatter", self.knot_flux_scatter, 0.0, 3.0)
        check_range("simulation.ring.collisional_fraction", self.collisional_fraction, 0.0,
                    1.0)
        check_interval("simulation.ring.nucleus_offset", self.nucleus_offset, 0.0, 10.0)
        check_interval("simulation.ring.lopsidedness", self.lopsidedness, 0.0, 1.0)
        if self.knots[1] == 0 and self.diffuse_fraction[0] < 1.0:
            fail("simulation.ring.knots", self.knots,
                 "at least one knot unless diffuse_fraction = [1, 1]")


@dataclasses.dataclass(frozen=True)
class SpiralPriors:
    """Priors of the non-lens kind ``spiral``: an exponential disc with logarithmic spiral arms
    plus a Sersic bulge (same centre, angle and axis ratio); the centre is drawn like a lens
    centre (``lens.center_max``).

    Attributes:
        axis_ratio: minor/major axis ratio of disc and bulge, in (0, 1]; default [0.35, 1.0].
        disc_magnitude: total AB magnitude of the disc [mag]; default [19.5, 22.0].
        scale_length: exponential scale length of the disc [arcsec]; default [0.25, 0.9].
        arms: number of spiral arms, integers [low, high]; default [2, 4].
        pitch: pitch angle of the arms [deg], in (0, 90); default [10.0, 30.0].
        arm_contrast: fraction of the disc light modulated by the arms, in [0, 1]; default
            [0.4, 0.95].
        bulge_magnitude_offset: bulge magnitude minus disc magnitude [mag] (> 0: a fainter
            bulge); default [0.5, 2.5].
        bulge_r_sersic: half-light radius of the bulge [arcsec]; default [0.08, 0.3].
        bulge_n_sersic: Sersic index of the bulge; default [1.0, 4.0].
    """

    axis_ratio: tuple[float, float] = (0.35, 1.0)
    disc_magnitude: tuple[float, float] = (19.5, 22.0)
    scale_length: tuple[float, float] = (0.25, 0.9)
    arms: tuple[int, int] = (2, 4)
    pitch: tuple[float, float] = (10.0, 30.0)
    arm_contrast: tuple[float, float] = (0.4, 0.95)
    bulge_magnitude_offset: tuple[float, float] = (0.5, 2.5)
    bulge_r_sersic: tuple[float, float] = (0.08, 0.3)
    bulge_n_sersic: tuple[float, float] = (1.0, 4.0)

    def __post_init__(self):
        _check_axis_ratio("simulation.spiral.axis_ratio", self.axis_ratio)
        check_interval("simulation.spiral.disc_magnitude", self.disc_magnitude, 0.0, 40.0)
        check_interval("simulation.spiral.scale_length", self.scale_length, 0.0, 100.0,
                       lo_open=True)
        _check_int_interval("simulation.spiral.arms", self.arms, 1, 20)
        check_interval("simulation.spiral.pitch", self.pitch, 0.0, 90.0, lo_open=True,
                       hi_open=True)
        check_interval("simulation.spiral.arm_contrast", self.arm_contrast, 0.0, 1.0)
        check_interval("simulation.spiral.bulge_magnitude_offset", self.bulge_magnitude_offset,
                       -20.0, 20.0)
        check_interval("simulation.spiral.bulge_r_sersic", self.bulge_r_sersic, 0.0, 100.0,
                       lo_open=True)
        check_interval("simulation.spiral.bulge_n_sersic", self.bulge_n_sersic, 0.2, 10.0)


@dataclasses.dataclass(frozen=True)
class RealHSTPriors:
    """Priors of the non-lens kind ``real_hst``: crops of real HST images (mgefit's galaxies and
    the deep field, see :func:`lensfind.sim.sources.hst_cutouts`) at a random field, rotation and
    mirror, scaled to a total magnitude drawn from ``lens_light.magnitude``.

    Attributes:
        zoom: sky area factor of a crop (the field pixels per cutout pixel are
            ``zoom * pixel_scale / field pixel scale``; > 1: a wider view, smaller galaxies);
            default [0.7, 1.4].
        center_scatter: on a galaxy image, the crop centre is the nucleus plus a Gaussian offset
            per axis of sigma ``center_scatter`` times the cutout side; default 0.15.
        deep_field_dimming: crops of the (sparser) deep field are this much fainter [mag];
            default 1.0.
    """

    zoom: tuple[float, float] = (0.7, 1.4)
    center_scatter: float = 0.15
    deep_field_dimming: float = 1.0

    def __post_init__(self):
        check_interval("simulation.real_hst.zoom", self.zoom, 0.0, 100.0, lo_open=True)
        check_range("simulation.real_hst.center_scatter", self.center_scatter, 0.0, 10.0)
        check_range("simulation.real_hst.deep_field_dimming", self.deep_field_dimming,
                    -20.0, 20.0)


@dataclasses.dataclass(frozen=True)
class FieldGalaxyPriors:
    """Priors of one faint unlensed field galaxy (an elliptical Sersic anywhere in the cutout;
    their mean number per cutout is ``simulation.field_galaxies``).

    Attributes:
        magnitude: total AB magnitude [mag]; default [23.0, 26.0].
        r_sersic: half-light radius [arcsec]; default [0.05, 0.3].
        n_sersic: Sersic index; default [0.5, 2.5].
        axis_ratio: minor/major axis ratio, in (0, 1]; default [0.3, 1.0].
    """

    magnitude: tuple[float, float] = (23.0, 26.0)
    r_sersic: tuple[float, float] = (0.05, 0.3)
    n_sersic: tuple[float, float] = (0.5, 2.5)
    axis_ratio: tuple[float, float] = (0.3, 1.0)

    def __post_init__(self):
        check_interval("simulation.field_galaxy.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.field_galaxy.r_sersic", self.r_sersic, 0.0, 100.0,
                       lo_open=True)
        check_interval("simulation.field_galaxy.n_sersic", self.n_sersic, 0.2, 10.0)
        _check_axis_ratio("simulation.field_galaxy.axis_ratio", self.axis_ratio)


#: substructure class -> what it adds to a lens's mass: ``"subhalos"`` (CDM point-mass
#: subhalos) and/or ``"vortices"`` (axion line masses); see :class:`SubstructurePriors`
SUBSTRUCTURE_CLASSES: dict[str, tuple[str, ...]] = {
    "no_sub": (),
    "cdm": ("subhalos",),
    "axion": ("vortices",),
}


def _check_classes(field: str, value) -> tuple[str, ...]:
    """A list of distinct names from :data:`SUBSTRUCTURE_CLASSES`."""
    allowed = ", ".join(repr(c) for c in SUBSTRUCTURE_CLASSES)
    if not isinstance(value, (list, tuple)) or any(not isinstance(v, str) for v in value):
        fail(field, value, f"a list of class names, each one of {allowed}")
    for name in value:
        if name not in SUBSTRUCTURE_CLASSES:
            fail(field, value, f"class names from {allowed} ({name!r} is unknown)")
    repeated = sorted({name for name in value if list(value).count(name) > 1})
    if repeated:
        fail(field, value, f"each class once ({', '.join(map(repr, repeated))} repeated)")
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class SubstructurePriors:
    """Dark-matter substructure of the lenses: a 3-class task after DeepLense (Alexander et al.
    2020, ApJ 893, 15, "Deep learning the morphology of dark matter substructure", arXiv:1909.07346;
    simulation code: github.com/mwt5345/DeepLenseSim, ``deeplense/lens.py`` and
    ``Model_III/sim_{no_sub,cdm,axion}.py``: 64 x 64 HST-like images).

    With ``classes`` empty (the default) there is no substructure and the simulator's output is
    exactly what it was before this table existed. Otherwise every lens gets one class, drawn
    with probabilities ``fractions`` (non-lenses get none); its substructure is added to the
    SIE + shear deflection before ray shooting, and the class index is recorded in the
    ``substructure`` parameter. Classes (:data:`SUBSTRUCTURE_CLASSES`):

    * ``"no_sub"``: nothing is added.
    * ``"cdm"``: point-mass subhalos (lenstronomy ``POINT_MASS``, as DeepLense's
      ``make_old_cdm``): a Poisson number (mean ``subhalos``; DeepLense: always 25) with masses
      drawn from ``dN/dm ~ m^subhalo_slope`` in ``subhalo_mass`` and centres area-uniform in the
      annulus ``subhalo_radius`` (in Einstein radii) around the lens centre.
    * ``"axion"``: vortices of an axion (superfluid) condensate as straight line masses of
      uniform density (DeepLense's ``make_vortex``: 100 point masses along a segment; here the
      exact deflection of the continuous segment, :func:`lensfind.sim.func.line_mass_deflection`),
      ``vortices`` per lens, with total mass ``vortex_mass``, length ``vortex_length``, centre
      area-uniform in the annulus ``vortex_radius`` (in Einstein radii) and a uniform
      orientation.

    Masses are in solar masses and become Einstein radii at ``z_lens`` for a source at
    ``z_source`` in a flat LambdaCDM cosmology (H0 = 70, Omega_m = 0.3, DeepLense's;
    :mod:`lensfind.sim.cosmology`): ``theta_E = 0.1665" sqrt(M / 1e10 M_sun)`` at the default
    redshifts. The host is not tied to these redshifts (its Einstein radius is drawn in arcsec);
    the host mass inside its Einstein radius ``theta_e`` is ``(theta_e / 1.6645")^2 x 1e12
    M_sun`` at the default redshifts, and ``substructure_mass_fraction`` records the added mass
    as a fraction of it.

    Defaults are deliberately STRONG, far above realistic CDM substructure (a projected mass
    fraction of order 1%, mostly in subhalos below 1e9 M_sun that are invisible at HST
    resolution): the aim is a classification task a CNN can learn from a few hundred 64 x 64
    images. DeepLense's Model III is strong too: 25 subhalos of 1e6-1e10 M_sun sampled, as
    coded, from ``dN/dm ~ m^-0.9`` (its docstring says -1.9), about 4% of the 1e12 M_sun host,
    within 0.25-2" of the centre; one 3e10 M_sun vortex through the lens centre, half-length
    0.03-3" (from an axion mass log-uniform in 1e-24-1e-22 eV). Here the subhalo mass function
    keeps the usual CDM slope -1.9 (Springel et al. 2008, MNRAS 391, 1685, Aquarius) but only
    from 1e9 M_sun, 10 subhalos on average (~2.7e10 M_sun: 7% of a theta_e = 1" host, 30% of a
    0.5" one: the fraction goes as 1 / theta_e^2), and subhalos and vortices lie near the
    Einstein ring, where they perturb the arcs; vortices are 1e10-3e10 M_sun. On 20 noiseless
    64 x 64 systems (0.05"/pixel) the RMS of cdm - no_sub and axion - no_sub is a median 4% of
    the arc's peak (the largest |difference| about half of it), 1.5-2 times that of a
    DeepLense-like setting.
    Whether a CNN can learn the classes depends as much on the rest of ``[simulation]``: with
    bright (20-21 mag) sources a small CNN separates them well above chance from 600 images in
    a minute of CPU, with the default faint sources (22-25.5 mag) it does not.

    Attributes:
        classes: substructure classes, names from :data:`SUBSTRUCTURE_CLASSES` (each once;
            the recorded ``substructure`` parameter is the index into this list); empty: off.
        fractions: probability of each class (same length as ``classes``, summing to 1);
            empty: equal.
        z_lens: redshift of the lens (and of its substructure); default 0.5 (DeepLense).
        z_source: redshift of the source, > ``z_lens``; default 1.0 (DeepLense).
        subhalos: mean number (Poisson) of CDM subhalos per ``"cdm"`` lens; default 10.0.
        subhalo_mass: range of subhalo masses [M_sun]; default [1e9, 1e10].
        subhalo_slope: slope of the subhalo mass function ``dN/dm ~ m^slope`` in that range;
            default -1.9.
        subhalo_radius: distance of a subhalo from the lens centre [Einstein radii],
            area-uniform in this annulus; default [0.6, 1.4].
        vortices: number of vortices per ``"axion"`` lens, integers [low, high] (uniform);
            default [1, 1].
        vortex_mass: total mass of a vortex [M_sun] (uniform); default [1e10, 3e10].
        vortex_length: length of a vortex [arcsec] (uniform); default [0.6, 2.0].
        vortex_radius: distance of a vortex centre from the lens centre [Einstein radii],
            area-uniform in this annulus; default [0.8, 1.2].
    """

    classes: tuple[str, ...] = ()
    fractions: tuple[float, ...] = ()
    z_lens: float = 0.5
    z_source: float = 1.0
    subhalos: float = 10.0
    subhalo_mass: tuple[float, float] = (1e9, 1e10)
    subhalo_slope: float = -1.9
    subhalo_radius: tuple[float, float] = (0.6, 1.4)
    vortices: tuple[int, int] = (1, 1)
    vortex_mass: tuple[float, float] = (1e10, 3e10)
    vortex_length: tuple[float, float] = (0.6, 2.0)
    vortex_radius: tuple[float, float] = (0.8, 1.2)

    def __post_init__(self):
        field = "simulation.substructure"
        _check_classes(f"{field}.classes", self.classes)
        fractions = self.fractions
        if not isinstance(fractions, (list, tuple)):
            fail(f"{field}.fractions", fractions, "a list of numbers, one per class")
        for value in fractions:
            check_range(f"{field}.fractions", value, 0.0, 1.0)
        if fractions and len(fractions) != len(self.classes):
            fail(f"{field}.fractions", fractions,
                 f"one number per class ({len(self.classes)} for classes = "
                 f"{list(self.classes)!r}), or an empty list for equal fractions")
        if fractions and abs(sum(fractions) - 1.0) > 1e-6:
            fail(f"{field}.fractions", fractions, f"numbers summing to 1 (they sum to "
                 f"{sum(fractions):.6g})")
        check_range(f"{field}.z_lens", self.z_lens, 0.0, 20.0, lo_open=True)
        check_range(f"{field}.z_source", self.z_source, 0.0, 20.0, lo_open=True)
        if self.z_source <= self.z_lens:
            fail(f"{field}.z_source", self.z_source,
                 f"a redshift > z_lens = {self.z_lens!r}")
        check_range(f"{field}.subhalos", self.subhalos, 0.0, 1000.0)
        check_interval(f"{field}.subhalo_mass", self.subhalo_mass, 0.0, 1e14, lo_open=True)
        check_range(f"{field}.subhalo_slope", self.subhalo_slope, -4.0, 2.0)
        check_interval(f"{field}.subhalo_radius", self.subhalo_radius, 0.0, 10.0)
        _check_int_interval(f"{field}.vortices", self.vortices, 0, 100)
        check_interval(f"{field}.vortex_mass", self.vortex_mass, 0.0, 1e14, lo_open=True)
        check_interval(f"{field}.vortex_length", self.vortex_length, 0.0, 100.0, lo_open=True)
        check_interval(f"{field}.vortex_radius", self.vortex_radius, 0.0, 10.0)

    @property
    def enabled(self) -> bool:
        """Whether any substructure class is simulated (``classes`` non-empty)."""
        return bool(self.classes)

    def probabilities(self) -> tuple[float, ...]:
        """Probability of each class: ``fractions`` (renormalised to sum to 1 exactly), or
        equal ones."""
        if self.fractions:
            total = float(sum(self.fractions))
            return tuple(float(f) / total for f in self.fractions)
        return tuple(1.0 / len(self.classes) for _ in self.classes)


@dataclasses.dataclass(frozen=True)
class SimConfig:
    """What to simulate: the ``[simulation]`` table.

    Attributes:
        size: cutout side in pixels (single channel).
        pixel_scale: arcsec per pixel.
        supersampling: sub-pixels per pixel side used to integrate the surface brightness.
        n_lenses: number of lenses (label 1).
        n_nonlenses: number of non-lenses (label 0), kinds mixed by ``negatives``.
        field_galaxies: mean number (Poisson) of faint unlensed field galaxies added anywhere in
            every cutout, lenses and non-lenses alike (their priors: ``field_galaxy``).
        lens, source, lens_light, psf, noise, artifacts, negatives: the sub-tables.
        neighbour, star, ring, spiral, real_hst: priors of those non-lens kinds (their weights
            are in ``negatives``).
        field_galaxy: priors of the field galaxies.
        substructure: dark-matter substructure classes of the lenses (off by default).
        bands: ``[[simulation.bands]]`` (:class:`BandConfig`), one per image channel; empty
            (the default) gives today's single band from ``noise`` and ``psf``, images
            ``(N, size, size)``; with bands images are ``(N, size, size, len(bands))``.
            ``simulation.preset`` (:mod:`lensfind.sim.presets`) fills them for a survey.
    """

    size: int = 100
    pixel_scale: float = 0.05
    supersampling: int = 3
    n_lenses: int = 2000
    n_nonlenses: int = 2000
    field_galaxies: float = 0.5
    lens: LensPriors = LensPriors()
    source: SourcePriors = SourcePriors()
    lens_light: LensLightPriors = LensLightPriors()
    psf: PSFConfig = PSFConfig()
    noise: NoiseConfig = NoiseConfig()
    artifacts: ArtifactsConfig = ArtifactsConfig()
    negatives: NegativesConfig = NegativesConfig()
    neighbour: NeighbourPriors = NeighbourPriors()
    star: StarPriors = StarPriors()
    ring: RingPriors = RingPriors()
    spiral: SpiralPriors = SpiralPriors()
    real_hst: RealHSTPriors = RealHSTPriors()
    field_galaxy: FieldGalaxyPriors = FieldGalaxyPriors()
    substructure: SubstructurePriors = SubstructurePriors()
    bands: tuple[BandConfig, ...] = ()

    def __post_init__(self):
        _check_int("simulation.size", self.size, 8, 2048)
        self._check_bands()
        check_range("simulation.pixel_scale", self.pixel_scale, 0.0, 100.0, lo_open=True)
        _check_int("simulation.supersampling", self.supersampling, 1, 16)
        _check_int("simulation.n_lenses", self.n_lenses, 0)
        _check_int("simulation.n_nonlenses", self.n_nonlenses, 0)
        check_range("simulation.field_galaxies", self.field_galaxies, 0.0, 100.0)
        if self.n_lenses + self.n_nonlenses < 1:
            fail("simulation.n_lenses + simulation.n_nonlenses",
                 self.n_lenses + self.n_nonlenses, "at least 1 image")
        for name, cls in (("lens", LensPriors), ("source", SourcePriors),
                          ("lens_light", LensLightPriors), ("psf", PSFConfig),
                          ("noise", NoiseConfig), ("artifacts", ArtifactsConfig),
                          ("negatives", NegativesConfig), ("neighbour", NeighbourPriors),
                          ("star", StarPriors), ("ring", RingPriors), ("spiral", SpiralPriors),
                          ("real_hst", RealHSTPriors), ("field_galaxy", FieldGalaxyPriors),
                          ("substructure", SubstructurePriors)):
            if not isinstance(getattr(self, name), cls):
                fail(f"simulation.{name}", getattr(self, name), f"a [simulation.{name}] table")

    def _check_bands(self) -> None:
        """Bands given as tables become :class:`BandConfig`; names must be unique."""
        if not isinstance(self.bands, (tuple, list)):
            fail("simulation.bands", self.bands, "a list of [[simulation.bands]] tables")
        bands = tuple(from_mapping(BandConfig, b, "simulation.bands") if isinstance(b, dict)
                      else b for b in self.bands)
        for band in bands:
            if not isinstance(band, BandConfig):
                fail("simulation.bands", band, "a [[simulation.bands]] table")
        names = [b.name for b in bands]
        if len(set(names)) != len(names):
            fail("simulation.bands names", names, "each band once")
        if self.psf.kind == "image" and any(not b.psf_image for b in bands):
            fail("simulation.bands.psf_image", [b.psf_image for b in bands],
                 "a kernel file for every band when psf.kind = 'image'")
        object.__setattr__(self, "bands", bands)

    @property
    def band_names(self) -> tuple[str, ...]:
        """The channel names: ``bands``' names, or ``()`` for the single default band."""
        return tuple(b.name for b in self.bands)

    @property
    def field_of_view(self) -> float:
        """Side of the cutout in arcsec."""
        return self.size * self.pixel_scale

    def replace(self, **changes) -> "SimConfig":
        """Copy with top-level fields changed (nested tables given as dataclasses or dicts)."""
        for name, value in list(changes.items()):
            current = getattr(self, name)
            if dataclasses.is_dataclass(current) and isinstance(value, dict):
                changes[name] = dataclasses.replace(current, **value)
        return dataclasses.replace(self, **changes)
