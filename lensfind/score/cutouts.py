"""Cutouts cut from survey tiles at (ra, dec), with astropy's WCS and ``Cutout2D``.

``lensfind score LIST.csv --image TILE.fits [--image TILE2.fits ...] [--tile-list TILES.txt]``
reads the list's ``ra`` and ``dec`` columns (decimal degrees, ICRS/the tiles' celestial frame)
and cuts a cutout of the models' size, centred on each position, from the first HDU of a tile
that holds a 2-D image with a celestial WCS (:class:`SurveyImage`). Each tile is memory-mapped
and its integer scaling (``BSCALE``/``BZERO``, ``BLANK`` -> NaN) is applied per cutout, so
tiles larger than memory work.

With several tiles (:class:`SurveyTiles`), a row is cut from the first tile, in the order given,
that holds its whole cutout, else from the first whose footprint holds its position (the cutout
then sticks out). A tile without a celestial WCS is left out with a note, when other tiles have
one. A position outside every tile, or so close to an edge that the cutout would stick out,
gets the status ``off_image``; missing or out-of-range coordinates get ``bad_coordinates``.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from lensfind.score.reader import CandidateListError, CutoutError


class NoCelestialWcs(CandidateListError):
    """A survey tile has no 2-D image with a celestial WCS."""


class SurveyImage:
    """A survey image and its celestial WCS (see the module doc).

    Raises:
        CandidateListError: the file is missing, unreadable, or has no 2-D image with a
            celestial WCS.
    """

    def __init__(self, path: str | Path):
        from astropy.io import fits
        from astropy.wcs import WCS
        self.path = Path(path)
        if not self.path.is_file():
            raise CandidateListError(f"--image {self.path}: no such file; expected a FITS image "
                                     "with a celestial WCS")
        try:
            self._hdul = fits.open(self.path, memmap=True, do_not_scale_image_data=True)
        except Exception as err:
            raise CandidateListError(f"--image {self.path}: not a readable FITS file "
                                     f"({type(err).__name__}: {err})") from None
        found = []
        for k, hdu in enumerate(self._hdul):
            if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU)) or not hdu.shape:
                found.append(f"HDU {k} {type(hdu).__name__} (no image)")
                continue
            dims = tuple(hdu.shape)
            while len(dims) > 2 and dims[0] == 1:
                dims = dims[1:]
            if len(dims) != 2:
                found.append(f"HDU {k} {'x'.join(map(str, hdu.shape))} (not 2-D)")
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    wcs = WCS(hdu.header, naxis=2).celestial
                except Exception as err:
                    found.append(f"HDU {k} (WCS error: {err})")
                    continue
            if not wcs.has_celestial or wcs.naxis != 2:
                found.append(f"HDU {k} {'x'.join(map(str, dims))} (no celestial WCS)")
                continue
            self.wcs = wcs
            self.data = hdu.data.reshape(dims)
            header = hdu.header
            self.bscale = float(header.get("BSCALE", 1.0))
            self.bzero = float(header.get("BZERO", 0.0))
            self.blank = header.get("BLANK") if self.data.dtype.kind in "iu" else None
            self.shape = dims
            self.hdu_index = k
            return
        self._hdul.close()
        raise NoCelestialWcs(f"--image {self.path}: no 2-D image with a celestial WCS "
                                 f"(CTYPE1/2 such as RA---TAN/DEC--TAN) in any HDU; found "
                                 + "; ".join(found))

    def close(self) -> None:
        self._hdul.close()

    def fingerprint(self) -> dict:
        st = self.path.stat()
        return {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}

    @property
    def pixel_scale(self) -> float:
        """Mean pixel side in arcsec, from the WCS."""
        from astropy.wcs.utils import proj_plane_pixel_scales
        return float(np.mean(proj_plane_pixel_scales(self.wcs)) * 3600.0)

    def fits(self, x: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
        """Whether a ``shape`` cutout centred on 0-based pixels ``(x, y)`` lies wholly inside."""
        ny, nx = self.shape
        h, w = shape
        with np.errstate(invalid="ignore"):
            return ((x - w / 2 >= -0.5) & (x + w / 2 <= nx - 0.5)
                    & (y - h / 2 >= -0.5) & (y + h / 2 <= ny - 0.5))

    def holds(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Whether 0-based pixels ``(x, y)`` lie on the image."""
        ny, nx = self.shape
        with np.errstate(invalid="ignore"):
            return (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)

    def pixel_positions(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel ``(x, y)`` of sky positions in degrees (NaN in -> NaN out)."""
        ra = np.asarray(ra, np.float64)
        dec = np.asarray(dec, np.float64)
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        # a projection can map a position far away (the other hemisphere) onto the image:
        # keep only pixels whose sky position is the one asked for
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            back_ra, back_dec = self.wcs.pixel_to_world_values(x, y)
        off = _separation_deg(ra, dec, np.asarray(back_ra), np.asarray(back_dec)) > 1 / 3600
        x[off], y[off] = np.nan, np.nan
        return x, y

    def cut(self, x: float, y: float, shape: tuple[int, int]) -> np.ndarray:
        """The ``shape`` cutout centred on pixel ``(x, y)`` as float32 (scaling applied).

        Raises:
            CutoutError: ``off_image`` when the cutout is not wholly inside the image.
        """
        from astropy.nddata import Cutout2D
        from astropy.nddata.utils import NoOverlapError, PartialOverlapError
        ny, nx = self.shape
        where = f"pixel (x={x:.1f}, y={y:.1f})"
        if not (math.isfinite(x) and math.isfinite(y)):
            raise CutoutError("off_image", "the position has no pixel in the image's WCS")
        try:
            cut = Cutout2D(self.data, (x, y), shape, mode="strict", copy=True)
        except NoOverlapError:
            raise CutoutError("off_image", f"{where} is outside the {nx}x{ny} image") from None
        except PartialOverlapError:
            raise CutoutError("off_image", f"a {shape[0]}x{shape[1]} cutout at {where} sticks "
                              f"out of the {nx}x{ny} image (too close to its edge)") from None
        data = np.asarray(cut.data)
        out = data.astype(np.float32)
        if self.blank is not None:
            out[data == self.blank] = np.nan
        if self.bscale != 1.0 or self.bzero != 0.0:
            out = (out.astype(np.float64) * self.bscale + self.bzero).astype(np.float32)
        return out


def _separation_deg(ra1, dec1, ra2, dec2) -> np.ndarray:
    """Angular distance in degrees (haversine; NaN in -> NaN out)."""
    r1, d1, r2, d2 = (np.radians(np.asarray(v, np.float64)) for v in (ra1, dec1, ra2, dec2))
    a = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    with np.errstate(invalid="ignore"):
        return np.degrees(2 * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


class SurveyTiles:
    """Survey tiles, each row cut from the tile that holds it (see the module doc).

    ``say`` gets one note per tile left out for having no celestial WCS.

    Raises:
        CandidateListError: a tile is missing or unreadable, or no tile has a celestial WCS.
    """

    def __init__(self, paths, say):
        self.tiles: list[SurveyImage] = []
        self.skipped: list[Path] = []
        problems = []
        try:
            for path in paths:
                try:
                    self.tiles.append(SurveyImage(path))
                except NoCelestialWcs as err:
                    self.skipped.append(Path(path))
                    problems.append(str(err))
        except CandidateListError:
            self.close()
            raise
        if not self.tiles:
            raise NoCelestialWcs("; ".join(problems))
        for text in problems:
            say(f"{text}; the tile is left out (rows on it only get off_image)")

    def close(self) -> None:
        for tile in self.tiles:
            tile.close()

    def fingerprint(self) -> list:
        return [t.fingerprint() for t in self.tiles] + [str(p.resolve()) for p in self.skipped]

    def locate(self, ra: np.ndarray, dec: np.ndarray, shape: tuple[int, int]) -> list:
        """Per position: ``(tile number, x, y)``, or a :class:`CutoutError` ``off_image``."""
        if len(self.tiles) == 1 and not self.skipped:  # its own message: outside, sticking out
            x, y = self.tiles[0].pixel_positions(ra, dec)
            return [(0, a, b) for a, b in zip(x.tolist(), y.tolist())]
        n = len(ra)
        tile = np.full(n, -1)
        x, y = np.full(n, np.nan), np.full(n, np.nan)
        inside = np.zeros(n, bool)  # the chosen tile holds the whole cutout
        for k, t in enumerate(self.tiles):
            tx, ty = t.pixel_positions(ra, dec)
            whole = t.fits(tx, ty, shape) & ~inside
            partly = t.holds(tx, ty) & (tile < 0)
            take = whole | partly
            tile[take], x[take], y[take] = k, tx[take], ty[take]
            inside |= whole
        out: list = []
        for k, a, b in zip(tile.tolist(), x.tolist(), y.tolist()):
            if k >= 0:
                out.append((k, a, b))
                continue
            names = ", ".join(t.path.name for t in self.tiles[:5]) + \
                (", ..." if len(self.tiles) > 5 else "")
            skipped = (f"; {len(self.skipped)} tile(s) without a celestial WCS were left out: "
                       + ", ".join(p.name for p in self.skipped[:5])) if self.skipped else ""
            out.append(CutoutError("off_image", f"the position is outside every tile "
                                   f"({len(self.tiles)} searched: {names}){skipped}"))
        return out

    def cut(self, where: tuple[int, float, float], shape: tuple[int, int]) -> np.ndarray:
        """The cutout of a located position (see :meth:`SurveyImage.cut`)."""
        k, x, y = where
        return self.tiles[k].cut(x, y, shape)


def read_tile_list(path: str | Path, *, banded: bool = False) -> list:
    """Tile paths from a text file, one per line (relative to its folder; ``#`` comments).

    Returns Paths; with ``banded`` (multi-band models, lines ``BAND=PATH``) the text
    ``BAND=<resolved path>`` of each line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise CandidateListError(f"--tile-list {path}: cannot read ({err}); expected a text "
                                 "file with one FITS tile per line") from None
    tiles = []
    for line in lines:
        text = line.split("#", 1)[0].strip()
        band, sep, name = text.partition("=") if banded else ("", "", text)
        name = name if sep else text  # a banded line without BAND= is refused by its reader
        if name.strip():
            p = Path(name.strip()).expanduser()
            p = p if p.is_absolute() else path.parent / p
            tiles.append(f"{band.strip()}={p}" if sep else p)
    if not tiles:
        raise CandidateListError(f"--tile-list {path}: no tile listed; expected one FITS tile "
                                 "per line")
    return tiles


def parse_radec(ra_text: str, dec_text: str) -> tuple[float, float]:
    """``(ra, dec)`` in degrees from two cells; raises ``bad_coordinates`` naming the problem."""
    try:
        ra, dec = float(ra_text), float(dec_text)
    except ValueError:
        raise CutoutError("bad_coordinates", f"ra = {ra_text!r}, dec = {dec_text!r}: expected "
                          "decimal degrees") from None
    if not (math.isfinite(ra) and 0.0 <= ra <= 360.0):
        raise CutoutError("bad_coordinates", f"ra = {ra_text!r}: expected degrees in [0, 360]")
    if not (math.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise CutoutError("bad_coordinates", f"dec = {dec_text!r}: expected degrees in "
                          "[-90, 90]")
    return ra, dec
