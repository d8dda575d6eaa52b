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
"""
from __future__ import annotations

import dataclasses

from lensfind.validation import check_choice, check_interval, check_range, fail

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


@dataclasses.dataclass(frozen=True)
class LensPriors:
    """Priors of the lens mass: a singular isothermal ellipsoid plus external shear.

    Attributes:
        theta_e: Einstein radius [arcsec] (lenstronomy's convention: product average of the
            major and minor axis Einstein radii).
        axis_ratio: minor/major axis ratio q of the SIE convergence, in (0, 1].
        center_max: the lens centre is drawn uniformly in the square
            [-center_max, center_max]^2 arcsec around the cutout centre (lens-centre translation).
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
            radius is scaled to this).
        n_sersic: Sersic index.
        axis_ratio: minor/major axis ratio.
        offset: distance of the source centre from the lens centre in units of the Einstein
            radius (area-uniform in the annulus); < ~1 gives multiple images.
    """

    kind: str = "sersic"
    real_fraction: float = 0.3
    magnitude: tuple[float, float] = (22.0, 25.5)
    r_sersic: tuple[float, float] = (0.05, 0.3)
    n_sersic: tuple[float, float] = (0.7, 2.5)
    axis_ratio: tuple[float, float] = (0.4, 1.0)
    offset: tuple[float, float] = (0.0, 0.6)

    def __post_init__(self):
        check_choice("simulation.source.kind", self.kind, SOURCE_KINDS)
        check_range("simulation.source.real_fraction", self.real_fraction, 0.0, 1.0)
        check_interval("simulation.source.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.source.r_sersic", self.r_sersic, 0.0, 100.0, lo_open=True)
        check_interval("simulation.source.n_sersic", self.n_sersic, 0.2, 10.0)
        _check_axis_ratio("simulation.source.axis_ratio", self.axis_ratio)
        check_interval("simulation.source.offset", self.offset, 0.0, 10.0)


@dataclasses.dataclass(frozen=True)
class LensLightPriors:
    """Priors of the lens (deflector) galaxy light, also used for the non-lens galaxies.

    Attributes:
        kind: ``"sersic"``, ``"real"`` (HST images of nearby early-type galaxies shipped with
            mgefit) or ``"mixed"``.
        real_fraction: with ``kind = "mixed"``, the probability of a real lens-galaxy image.
        magnitude: total AB magnitude.
        r_sersic: half-light radius [arcsec].
        n_sersic: Sersic index.
        axis_ratio: minor/major axis ratio, used when ``follow_mass`` is false and for non-lenses.
        follow_mass: if true, the light of a lens has the orientation of the mass (+-10 deg) and
            an axis ratio within 0.1 of the mass axis ratio.
    """

    kind: str = "sersic"
    real_fraction: float = 0.3
    magnitude: tuple[float, float] = (19.0, 21.5)
    r_sersic: tuple[float, float] = (0.3, 1.2)
    n_sersic: tuple[float, float] = (2.5, 5.0)
    axis_ratio: tuple[float, float] = (0.5, 1.0)
    follow_mass: bool = True

    def __post_init__(self):
        check_choice("simulation.lens_light.kind", self.kind, LIGHT_KINDS)
        check_range("simulation.lens_light.real_fraction", self.real_fraction, 0.0, 1.0)
        check_interval("simulation.lens_light.magnitude", self.magnitude, 0.0, 40.0)
        check_interval("simulation.lens_light.r_sersic", self.r_sersic, 0.0, 100.0, lo_open=True)
        check_interval("simulation.lens_light.n_sersic", self.n_sersic, 0.2, 10.0)
        _check_axis_ratio("simulation.lens_light.axis_ratio", self.axis_ratio)
        _check_bool("simulation.lens_light.follow_mass", self.follow_mass)


@dataclasses.dataclass(frozen=True)
class PSFConfig:
    """Point-spread function.

    Attributes:
        kind: ``"gaussian"``, ``"moffat"`` or ``"image"`` (a kernel read from ``image_path``).
        fwhm: full width at half maximum [arcsec] (Gaussian and Moffat), drawn per image.
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
        exposure_time: seconds, drawn per image.
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
class ArtifactsConfig:
    """Detector artifacts added after the noise.

    Attributes:
        cosmic_rays: mean number of cosmic-ray tracks per image (Poisson).
        hot_pixels: mean number of hot pixels per image (Poisson).
        mask_probability: probability that an image has masked pixels (value 0): a bad column,
            a rectangular gap or a scatter of dead pixels.
    """

    cosmic_rays: float = 0.5
    hot_pixels: float = 1.0
    mask_probability: float = 0.05

    def __post_init__(self):
        check_range("simulation.artifacts.cosmic_rays", self.cosmic_rays, 0.0, 100.0)
        check_range("simulation.artifacts.hot_pixels", self.hot_pixels, 0.0, 1000.0)
        check_range("simulation.artifacts.mask_probability", self.mask_probability, 0.0, 1.0)


@dataclasses.dataclass(frozen=True)
class NegativesConfig:
    """Relative weights of the non-lens kinds (normalised; 0 switches a kind off).

    Attributes:
        lens_galaxy: a lens-like galaxy without a lensed source.
        neighbour: a galaxy with an unlensed neighbour galaxy.
        star: one or more stars (optionally next to a galaxy).
        ring: a galaxy with a ring-like (collisional/polar ring) structure: a hard negative.
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
class SimConfig:
    """What to simulate: the ``[simulation]`` table.

    Attributes:
        size: cutout side in pixels (single channel).
        pixel_scale: arcsec per pixel.
        supersampling: sub-pixels per pixel side used to integrate the surface brightness.
        n_lenses: number of lenses (label 1).
        n_nonlenses: number of non-lenses (label 0), kinds mixed by ``negatives``.
        field_galaxies: mean number (Poisson) of faint unlensed field galaxies added anywhere in
            every cutout, lenses and non-lenses alike.
        lens, source, lens_light, psf, noise, artifacts, negatives: the sub-tables.
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

    def __post_init__(self):
        _check_int("simulation.size", self.size, 8, 2048)
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
                          ("negatives", NegativesConfig)):
            if not isinstance(getattr(self, name), cls):
                fail(f"simulation.{name}", getattr(self, name), f"a [simulation.{name}] table")

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
