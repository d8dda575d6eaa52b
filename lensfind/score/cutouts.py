"""Cutouts cut from a survey image at (ra, dec), with astropy's WCS and ``Cutout2D``.

``lensfind score LIST.csv --image SURVEY.fits ...`` reads the list's ``ra`` and ``dec`` columns
(decimal degrees, ICRS/the image's celestial frame) and cuts a cutout of the models' size,
centred on each position, from the first HDU of ``SURVEY.fits`` that holds a 2-D image with a
celestial WCS. The image is memory-mapped and its integer scaling (``BSCALE``/``BZERO``,
``BLANK`` -> NaN) is applied per cutout, so a survey image larger than memory works.

A position outside the image, or so close to its edge that the cutout would stick out, gets the
status ``off_image``; missing or out-of-range coordinates get ``bad_coordinates``.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from lensfind.score.reader import CandidateListError, CutoutError


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
        raise CandidateListError(f"--image {self.path}: no 2-D image with a celestial WCS "
                                 f"(CTYPE1/2 such as RA---TAN/DEC--TAN) in any HDU; found "
                                 + "; ".join(found))

    def close(self) -> None:
        self._hdul.close()

    def pixel_positions(self, ra: np.ndarray, dec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel ``(x, y)`` of sky positions in degrees (NaN in -> NaN out)."""
        ra = np.asarray(ra, np.float64)
        dec = np.asarray(dec, np.float64)
        x, y = self.wcs.world_to_pixel_values(ra, dec)
        return np.asarray(x, np.float64), np.asarray(y, np.float64)

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
