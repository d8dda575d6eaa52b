"""Real galaxies from images that ship inside installed packages (nothing is downloaded).

* Real sources: galaxy stamps segmented from ``skimage.data.hubble_deep_field()`` (a stretched
  colour JPEG of a Hubble deep field; we take the mean of the channels and square it to undo part
  of the display stretch, so fluxes are only approximately linear; the shapes are real).
  Multi-band simulations also use each galaxy's R, G, B stamps (:func:`hdf_colour_bank`: the
  same segmentation, each channel squared like the luminance). Their colours are approximate:
  the display stretch is unknown (squaring only undoes part of it), JPEG compression blurs
  colour, and the channels' balance and filters are not recorded in the file. scikit-image's
  docstring names HubbleSite release 2012-37, the eXtreme Deep Field, whose colour composite
  combines ACS optical and WFC3/IR exposures (F435W-F850LP, F105W-F160W); we take the B, G and
  R channels to be centred at approximately 435, 700 and 1250 nm
  (:data:`HDF_CHANNEL_WAVELENGTHS`, an assumption) and trust only colour *differences* between
  and within galaxies (:func:`hdf_band`).
* Real lens-galaxy light: the HST/WFPC2 images of M32, NGC 4342 (F814W, PC chip, 0.0455"/pixel)
  and NGC 5831 (F702W mosaic, 0.1"/pixel) that ship with ``mgefit`` (``mgefit/images/*.fits``),
  sky-subtracted, centred on the nucleus and tapered to zero.
* Real HST cutouts (non-lens kind ``real_hst``): crops of the same mgefit images and of the deep
  field, at random position, rotation and zoom.

Banks are built once per process (about a second) and cached. Stamps are rendered at arbitrary
(ray-shot) positions with vectorised bilinear interpolation over the batch, so a real source is
lensed exactly like a Sersic one.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path

import numpy as np

from lensfind.fitsio import read_primary
from lensfind.sim.colours import BAND_WAVELENGTHS, COLOURS, REFERENCE_BAND
from lensfind.sim.config import RealHSTPriors
from lensfind.sim.func import col

SOURCE_STAMP = 64
LIGHT_STAMP = 128

# pixel scales [arcsec/pixel] of the mgefit images (from mgefit's own examples)
MGEFIT_IMAGES = {
    "ngc4342_f814w_pc.fits": 0.0455,
    "m32_f814w_pc.fits": 0.0455,
    "ngc5831_f702w_mosaic.fits": 0.100,
}
HDF_PIXEL_SCALE = 0.05  # nominal; the JPEG's true scale is not recorded
#: centre wavelengths [nm] of the deep-field JPEG's R, G, B channels: approximate, assumed (see
#: the module docstring; the file records no filters)
HDF_CHANNEL_WAVELENGTHS = (1250.0, 700.0, 435.0)


@dataclasses.dataclass(frozen=True)
class StampBank:
    """Unit-sum galaxy stamps ``(M, S+2, S+2)`` (one zero pixel of padding on each side).

    ``r_half`` are half-light radii and ``cx, cy`` flux centroids, in stamp pixels of the padded
    stamps; ``names`` say where each stamp came from.
    """

    stamps: np.ndarray
    r_half: np.ndarray
    cx: np.ndarray
    cy: np.ndarray
    names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.stamps)


def _half_light(stamp: np.ndarray) -> tuple[float, float, float]:
    yy, xx = np.indices(stamp.shape)
    total = stamp.sum()
    cx = float((stamp * xx).sum() / total)
    cy = float((stamp * yy).sum() / total)
    r = np.hypot(xx - cx, yy - cy).ravel()
    order = np.argsort(r)
    cum = np.cumsum(stamp.ravel()[order])
    r_half = float(r[order][np.searchsorted(cum, 0.5 * total)])
    return max(r_half, 0.5), cx, cy


def _finish(stamps: list[np.ndarray], names: list[str]) -> StampBank:
    padded, rh, cxs, cys = [], [], [], []
    for s in stamps:
        s = np.clip(s, 0, None).astype(np.float64)
        s /= s.sum()
        s = np.pad(s, 1)
        r, cx, cy = _half_light(s)
        padded.append(s.astype(np.float32))
        rh.append(r)
        cxs.append(cx)
        cys.append(cy)
    return StampBank(np.stack(padded), np.array(rh), np.array(cxs), np.array(cys), tuple(names))


def hdf_luminance() -> np.ndarray:
    """The deep-field JPEG as an approximately linear single-channel image, sky ~ 0."""
    from skimage import data
    im = data.hubble_deep_field().astype(np.float32) / 255.0
    lin = im.mean(axis=2) ** 2
    lin -= np.median(lin)
    return lin


def hdf_channels() -> np.ndarray:
    """The deep-field JPEG's R, G, B channels ``(H, W, 3)``, each linearised like
    :func:`hdf_luminance`: display value ``v`` in [0, 1] squared, the channel's median
    subtracted. Per pixel the channels' mean is the luminance plus the variance of ``v`` over the
    channels (``mean(v^2) = mean(v)^2 + var(v)``, 0 for a grey pixel), up to the medians."""
    from skimage import data
    im = data.hubble_deep_field().astype(np.float32) / 255.0
    lin = im ** 2
    lin -= np.median(lin, axis=(0, 1))
    return lin


def _hdf_cut(image: np.ndarray, sl: tuple[slice, slice], keep: np.ndarray) -> np.ndarray:
    """The pixels ``keep`` of ``image[sl]``, edge softened, resampled to a source stamp."""
    from skimage import filters, transform
    stamp = np.where(keep, image[sl], 0.0)
    stamp = filters.gaussian(stamp, 0.5)  # soften the segmentation edge
    return transform.resize(stamp, (SOURCE_STAMP, SOURCE_STAMP), anti_aliasing=True, order=1)


@functools.lru_cache(maxsize=1)
def _hdf_segments(max_stamps: int) -> tuple[tuple, tuple]:
    """The deep-field galaxies of the bank: ``((slice, mask, name), ...)`` in the deep field and
    their luminance stamps (before :func:`_finish`)."""
    from skimage import filters, measure, morphology
    lin = hdf_luminance()
    sigma = float(np.median(np.abs(lin)) * 1.4826)
    smooth = filters.gaussian(lin, 1.0)
    labels = measure.label(smooth > 4 * sigma)
    props = measure.regionprops(labels, intensity_image=lin)
    props = [p for p in props if 60 <= p.area <= 4000]
    props.sort(key=lambda p: (-p.area, p.label))
    segments, stamps = [], []
    h, w = lin.shape
    for p in props[:max_stamps]:
        r0, c0, r1, c1 = p.bbox
        half = int(0.7 * max(r1 - r0, c1 - c0)) + 4
        cy, cx = (int(round(v)) for v in p.centroid)
        if cy - half < 0 or cx - half < 0 or cy + half >= h or cx + half >= w:
            continue
        sl = (slice(cy - half, cy + half), slice(cx - half, cx + half))
        own = labels[sl] == p.label
        others = (labels[sl] > 0) & ~own
        keep = morphology.dilation(own, morphology.disk(2)) & ~others
        stamp = _hdf_cut(lin, sl, keep)
        if stamp.clip(0).sum() <= 0:
            continue
        stamps.append(stamp)
        segments.append((sl, keep, f"hubble_deep_field:{cx},{cy}"))
    return tuple(segments), tuple(stamps)


@functools.lru_cache(maxsize=1)
def hdf_source_bank(max_stamps: int = 400) -> StampBank:
    """Isolated galaxies segmented from the deep field, as unit-sum stamps."""
    segments, stamps = _hdf_segments(max_stamps)
    return _finish(list(stamps), [name for _, _, name in segments])


@dataclasses.dataclass(frozen=True)
class ColourStamps:
    """The galaxies of :func:`hdf_source_bank`, channel by channel.

    ``stamps`` ``(M, 3, S+2, S+2)`` are unit-sum per channel (zero padding, as the grey bank's),
    ``flux`` ``(M, 3)`` the channels' linearised fluxes (arbitrary units, common to all
    galaxies) and ``wavelengths`` the channels' [nm], in the JPEG's order R, G, B.
    """

    stamps: np.ndarray
    flux: np.ndarray
    wavelengths: tuple[float, ...]


@functools.lru_cache(maxsize=1)
def hdf_colour_bank(max_stamps: int = 400) -> ColourStamps:
    """Each galaxy of :func:`hdf_source_bank` (the same segmentation, cut and resampling) in the
    channels of :func:`hdf_channels`. A channel without positive flux keeps a zero stamp and
    flux 1e-6 of the galaxy's brightest channel (a finite, very faint magnitude)."""
    segments, _ = _hdf_segments(max_stamps)
    lin = hdf_channels()
    side = SOURCE_STAMP + 2
    stamps = np.zeros((len(segments), 3, side, side), np.float32)
    flux = np.zeros((len(segments), 3))
    for m, (sl, keep, _) in enumerate(segments):
        for c in range(3):
            s = np.clip(_hdf_cut(lin[..., c], sl, keep), 0, None)
            flux[m, c] = s.sum()
            if flux[m, c] > 0:
                stamps[m, c] = np.pad(s / flux[m, c], 1)
        flux[m] = np.maximum(flux[m], 1e-6 * flux[m].max())
    return ColourStamps(stamps, flux, HDF_CHANNEL_WAVELENGTHS)


def channel_blend(colour: ColourStamps, wavelength: float) -> tuple[np.ndarray, np.ndarray]:
    """The deep-field galaxies seen in a band centred at ``wavelength`` [nm], from their channel
    stamps: unit-sum stamps ``(M, S+2, S+2)`` and log10 fluxes ``(M,)`` (channel units).

    The one convention for any band and any number of bands: with the channels sorted by
    wavelength, take the adjacent pair ``l0 < l1`` that contains the band (the outermost pair
    beyond either end) and ``t = (wavelength - l0) / (l1 - l0)``. The log10 flux is linear in
    wavelength through the pair's, ``(1 - t) log F0 + t log F1`` (extrapolated outside the
    channels); the stamp is ``(1 - u) S0 + u S1`` with ``u = clip(t, 0, 1)`` (outside the
    channels: the nearest channel's morphology)."""
    order = np.argsort(colour.wavelengths)
    lam = np.asarray(colour.wavelengths, np.float64)[order]
    k = int(np.clip(np.searchsorted(lam, wavelength) - 1, 0, lam.size - 2))
    lo, hi = order[k], order[k + 1]
    t = (wavelength - lam[k]) / (lam[k + 1] - lam[k])
    u = float(np.clip(t, 0.0, 1.0))
    log_flux = (1 - t) * np.log10(colour.flux[:, lo]) + t * np.log10(colour.flux[:, hi])
    stamps = ((1 - u) * colour.stamps[:, lo] + u * colour.stamps[:, hi]).astype(np.float32)
    return stamps, log_flux


@functools.lru_cache(maxsize=32)
def hdf_band(band: str, colour: str) -> tuple[StampBank, np.ndarray]:
    """The deep-field bank in ``band`` (:data:`lensfind.sim.colours.BAND_NAMES`) for light of
    colour class ``colour``: the stamps of :func:`channel_blend` with the grey bank's geometry
    (``r_half`` and centroids: every band of a galaxy is placed and scaled alike), and each
    galaxy's magnitude offset ``(M,)`` [mag] from the priors' (reference-band) magnitude.

    The JPEG's colour balance is unknown, so a stamp sets colour *differences* only: the offset
    is the middle of the class's prior range in ``band`` (:data:`~lensfind.sim.colours.COLOURS`)
    plus the stamp's ``band - reference`` colour minus the bank's median of it. The reference
    band (:data:`~lensfind.sim.colours.REFERENCE_BAND`) therefore keeps offset 0."""
    grey, colours = hdf_source_bank(), hdf_colour_bank()
    stamps, log_flux = channel_blend(colours, BAND_WAVELENGTHS[band])
    _, log_ref = channel_blend(colours, BAND_WAVELENGTHS[REFERENCE_BAND])
    colour_index = -2.5 * (log_flux - log_ref)
    low, high = COLOURS[colour][band]
    offset = 0.5 * (low + high) + colour_index - np.median(colour_index)
    return dataclasses.replace(grey, stamps=stamps), offset


def mgefit_dir() -> Path:
    """``mgefit/images`` (found without importing mgefit, which imports matplotlib)."""
    import importlib.util
    spec = importlib.util.find_spec("mgefit")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("real lens-galaxy images need the mgefit package "
                                  "(pip install mgefit)")
    return Path(list(spec.submodule_search_locations)[0]) / "images"


@functools.lru_cache(maxsize=4)
def _mgefit_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image, distance in pixels to the nearest pixel without data or the image edge)."""
    from scipy import ndimage
    img = np.nan_to_num(read_primary(mgefit_dir() / name))  # no astropy import: fast
    valid = ~ndimage.binary_opening(img == 0, np.ones((5, 5), bool))
    dist = ndimage.distance_transform_edt(np.pad(valid, 1))[1:-1, 1:-1]
    return img, dist


@functools.lru_cache(maxsize=4)
def mgefit_image(name: str) -> np.ndarray:
    """A sky-subtracted mgefit HST image (float32). Pixels without data (e.g. outside the chips
    of a WFPC2 mosaic) are 0; the sky is the median of the valid pixels within 20 pixels of the
    edge of the data (for M32 that is still galaxy light: its profile is then truncated)."""
    img, dist = _mgefit_raw(name)
    valid = dist > 0
    sky = float(np.median(img[valid & (dist <= 20)]))
    return np.where(valid, img - sky, 0.0).astype(np.float32)


def _valid_radius(name: str, r: int, c: int) -> int:
    return int(_mgefit_raw(name)[1][r, c])


def brightest_smoothed_pixel(img: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` [pixels of ``img``] of the maximum of ``img`` smoothed by a Gaussian of
    sigma 4 pixels: a galaxy's nucleus, not fooled by a hot pixel or a cosmic ray."""
    from scipy import ndimage
    sm = ndimage.gaussian_filter(img, 4.0)
    r, c = np.unravel_index(np.argmax(sm), sm.shape)
    return int(r), int(c)


@functools.lru_cache(maxsize=1)
def mgefit_light_bank() -> StampBank:
    """Nearby early-type galaxies from mgefit's HST images, centred and tapered stamps."""
    from skimage import transform
    stamps, names = [], []
    for name in MGEFIT_IMAGES:
        img = mgefit_image(name)
        r, c = brightest_smoothed_pixel(img)
        half = min(_valid_radius(name, r, c) - 5, 300)
        cut = img[r - half:r + half + 1, c - half:c + half + 1].astype(np.float64)
        yy, xx = np.indices(cut.shape) - half
        rr = np.hypot(xx, yy) / half
        taper = np.clip((1.0 - rr) / 0.4, 0, 1) ** 2  # 1 inside 0.6, smoothly 0 at the edge
        cut = np.clip(cut, 0, None) * taper
        stamps.append(transform.resize(cut, (LIGHT_STAMP, LIGHT_STAMP), anti_aliasing=True,
                                       order=1))
        names.append(f"mgefit:{name}")
    return _finish(stamps, names)


@functools.lru_cache(maxsize=1)
def hst_fields() -> tuple[tuple[str, np.ndarray, float], ...]:
    """Whole real images for ``real_hst`` cutouts: (name, image normalised to robust max 1,
    pixel scale)."""
    out = []
    for name, scale in MGEFIT_IMAGES.items():
        img = mgefit_image(name)
        out.append((f"mgefit:{name}", img / np.percentile(img, 99.9), scale))
    lin = hdf_luminance()
    out.append(("hubble_deep_field", lin / np.percentile(lin, 99.9), HDF_PIXEL_SCALE))
    return tuple(out)


def render_stamps(x, y, bank: StampBank, idx: np.ndarray, center_x, center_y, r_half, angle,
                  flux, flip=None) -> np.ndarray:
    """Surface brightness of bank stamps placed at ``(center_x, center_y)``, rotated by
    ``angle`` [rad], scaled so that the half-light radius is ``r_half`` [arcsec] and normalised to
    total ``flux``; evaluated at ``x, y`` (``(B, n, n)`` or broadcastable) by bilinear
    interpolation. ``flip`` (bool ``(B,)``) mirrors the stamp."""
    dtype = np.result_type(x, np.float32)
    idx = np.asarray(idx)
    b = idx.size
    side = bank.stamps.shape[-1]
    scale = np.asarray(r_half, dtype=np.float64) / bank.r_half[idx]  # arcsec per stamp pixel
    c = np.cos(angle) / scale
    s = np.sin(angle) / scale
    dx = x - col(center_x, dtype)
    dy = y - col(center_y, dtype)
    u = col(c, dtype) * dx + col(s, dtype) * dy
    v = col(c, dtype) * dy - col(s, dtype) * dx
    if flip is not None:
        u *= col(np.where(flip, -1.0, 1.0), dtype)
    u += col(bank.cx[idx], dtype)
    v += col(bank.cy[idx], dtype)
    shape = np.broadcast_shapes(u.shape, v.shape)
    # outside the padded stamp -> the zero border
    u = np.clip(np.broadcast_to(u, shape), 0, side - 1.001)
    v = np.clip(np.broadcast_to(v, shape), 0, side - 1.001)
    j0 = u.astype(np.int32)
    i0 = v.astype(np.int32)
    fu = u - j0
    fv = v - i0
    base = (np.arange(b, dtype=np.int64) * side * side).reshape(-1, 1, 1)
    flat = bank.stamps[idx].reshape(-1) if b else bank.stamps.reshape(-1)[:0]
    k = base + i0.astype(np.int64) * side + j0
    v00 = flat[k]
    v01 = flat[k + 1]
    v10 = flat[k + side]
    v11 = flat[k + side + 1]
    out = v00 * (1 - fu) + v01 * fu
    out *= 1 - fv
    out += (v10 * (1 - fu) + v11 * fu) * fv
    out *= col(np.asarray(flux, dtype=np.float64) / scale ** 2, dtype)
    return out.astype(dtype, copy=False)


def hst_cutouts(rng: np.random.Generator, n_images: int, size: int, pixel_scale: float,
                priors: RealHSTPriors = RealHSTPriors()) -> tuple[np.ndarray, list[str]]:
    """``n_images`` real HST cutouts ``(B, size, size)`` (unit robust max) at ``pixel_scale``
    [arcsec/pixel]: random field, centre, rotation, flip and zoom (``priors``); also returns
    the field names."""
    fields = hst_fields()
    out = np.zeros((n_images, size, size), np.float32)
    names = []
    for i in range(n_images):
        fi = int(rng.integers(len(fields)))
        name, img, fscale = fields[fi]
        zoom = rng.uniform(*priors.zoom)
        ratio = pixel_scale * zoom / fscale  # field pixels per output pixel
        ang = rng.uniform(0, 2 * np.pi)
        flip = rng.random() < 0.5
        h, w = img.shape
        reach = ratio * size * 0.75
        if name.startswith("mgefit"):  # centred near the galaxy
            r0, c0 = _mgefit_nucleus(name)
            off = rng.normal(0, priors.center_scatter * size * ratio, size=2)
            cy, cx = r0 + off[0], c0 + off[1]
        else:
            cy = rng.uniform(reach, h - reach)
            cx = rng.uniform(reach, w - reach)
        out[i] = resample_crop(img, cy, cx, size, ratio, ang, flip)
        names.append(name)
    return out, names


def resample_crop(img: np.ndarray, cy: float, cx: float, size: int, ratio: float, angle: float,
                  flip: bool, *, mode: str = "constant") -> np.ndarray:
    """A ``size x size`` resampling of ``img`` centred on ``(cy, cx)`` (row, column, field
    pixels): ``ratio`` field pixels per output pixel, rotated by ``angle`` [rad], mirrored when
    ``flip``. Bilinear; a field shrunk by ``ratio >= 1.5`` is Gaussian-smoothed first (against
    aliasing). Outside the field: ``mode`` of ``scipy.ndimage.map_coordinates`` ("constant": 0,
    "nearest": the edge pixel)."""
    from scipy import ndimage
    t = (np.arange(size) - (size - 1) / 2.0) * ratio
    gx, gy = np.meshgrid(t, t)
    if flip:
        gx = -gx
    ca, sa = math.cos(angle), math.sin(angle)
    rows = cy + sa * gx + ca * gy
    cols = cx + ca * gx - sa * gy
    src = img if ratio < 1.5 else ndimage.gaussian_filter(img, 0.4 * ratio)
    return ndimage.map_coordinates(src, [rows, cols], order=1, mode=mode, cval=0.0)


@functools.lru_cache(maxsize=8)
def _mgefit_nucleus(name: str) -> tuple[int, int]:
    """:func:`brightest_smoothed_pixel` of the mgefit field ``"mgefit:<file name>"``."""
    return brightest_smoothed_pixel(mgefit_image(name.split(":", 1)[1]))
