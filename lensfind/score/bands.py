"""Multi-band cutouts for models of several bands (``simulation.bands``, e.g. g, r, i).

A model records its bands; a row's cutout must give exactly those bands, and is handed to the
model as ``(H, W, C)`` with channel ``k`` the model's ``k``-th band. Per cutout source:

* **a cube per row** (the ``path`` column): a FITS file whose first HDU with 3-D data is a cube
  ``(C, H, W)`` -- as :func:`lensfind.data.fits.export_fits` writes it, with a ``BANDS`` card
  (``g,r,i``) naming its planes, which are then taken by name; without ``BANDS`` the C planes
  are taken as the models' bands in their order. A file without a cube may hold one 2-D image
  HDU per band, each named by a ``BAND`` or ``FILTER`` card (taken by name), or else in the
  models' order. A ``.npy`` file ``(C, H, W)`` is taken in the models' order.
* **a file per band** (columns ``path_<band>``, e.g. ``path_g``, ``path_r``, ``path_i``: used
  when the list has one for every band): each a single-band cutout, read as in
  :mod:`lensfind.score.reader`.
* **survey tiles per band** (``--image g=TILE_g.fits --image r=TILE_r.fits ...``, or lines
  ``g=TILE_g.fits`` in ``--tile-list``): each band cut at the row's ``ra``/``dec`` from its own
  tiles with their own WCS (:mod:`lensfind.score.cutouts`).
* **an HDF5 stack** ``N x H x W x C`` whose file attribute ``bands`` (lensfind's sets,
  :mod:`lensfind.data.store`) must equal the models' bands (:mod:`lensfind.score.stacks`).

Bad rows are flagged and the run goes on: a cube of other bands (``wrong_bands``), bands of
different sizes (``band_sizes``), a missing band file (``missing_file``), a band tile that does
not hold the position (``off_image``); the reason names the band, the column or tile, the value
found and what the models take. Bands of the whole run that differ from the models' (a stack's
``bands``, the bands given to ``--image``) refuse the run before any work, naming both lists.
"""
from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.score.reader import (
    CandidateListError,
    CutoutError,
    band_column,
    conform,
    read_image,
    resolve_path,
)

#: header cards naming the band of a 2-D image HDU, in order of preference
BAND_CARDS = ("BAND", "FILTER")
#: bands whose tiles' pixel scales differ by more than this fraction refuse the run
PIXEL_SCALE_SLACK = 0.01


def _names(bands: Sequence[str]) -> str:
    return "[" + ", ".join(bands) + "]"


def conform_bands(image: np.ndarray, bands: Sequence[str], shape: tuple[int, int], *,
                  tolerance: float = 0.1) -> tuple[np.ndarray, str]:
    """``(image (H, W, C) float32, note)`` from ``image`` ``(h, w, C)``: each band brought to
    ``shape`` by :func:`~lensfind.score.reader.conform` (one note for all bands).

    Raises:
        CutoutError: ``wrong_bands`` (not C planes), or a band's ``wrong_shape`` or
            ``non_finite`` naming the band.
    """
    if image.ndim != 3 or image.shape[-1] != len(bands):
        raise CutoutError("wrong_bands", f"data of shape {image.shape}; the models take "
                          f"(H, W, {len(bands)}) for the bands {_names(bands)}")
    planes, note = [], ""
    for k, band in enumerate(bands):
        try:
            plane, note = conform(image[..., k], shape, tolerance=tolerance)
        except CutoutError as err:
            raise CutoutError(err.status, f"band {band}: {err.reason}") from None
        planes.append(plane)
    return np.stack(planes, axis=-1), note


def stack_planes(planes: Sequence[np.ndarray], bands: Sequence[str],
                 sources: Sequence[str]) -> np.ndarray:
    """``(h, w, C)`` from one 2-D plane per band; refuses planes of different sizes
    (``band_sizes``, naming each band's size and where it came from)."""
    sizes = {p.shape for p in planes}
    if len(sizes) > 1:
        listing = "; ".join(f"{b} {'x'.join(map(str, p.shape))} ({s})"
                            for b, p, s in zip(bands, planes, sources))
        raise CutoutError("band_sizes", f"the bands differ in size: {listing}; expected one "
                          "size for all bands")
    return np.stack(planes, axis=-1)


# ------------------------------------------------------------------------------------ files

def load_band_files(base_dir: Path, cells: dict[str, str], bands: Sequence[str],
                    shape: tuple[int, int], tolerance: float) -> np.ndarray:
    """``(h, w, C)`` from one single-band file per band; ``cells``: band -> its path cell.

    Raises:
        CutoutError: the first band whose cell or file is bad (naming its column and value),
            or ``band_sizes``.
    """
    planes = []
    for band in bands:
        column, text = band_column(band), cells[band]
        try:
            planes.append(read_image(resolve_path(base_dir, text), shape=shape,
                                     tolerance=tolerance))
        except CutoutError as err:
            raise CutoutError(err.status, f"{column} = {text.strip()!r}: {err.reason}") \
                from None
    return stack_planes(planes, bands, [band_column(b) for b in bands])


def _wrong(path: Path, found: str, bands: Sequence[str]) -> CutoutError:
    return CutoutError("wrong_bands", f"{path.name}: {found}; the models take the bands "
                       f"{_names(bands)} (a C x H x W cube, or one image HDU per band)")


def _by_name(path: Path, names: Sequence[str], planes: Sequence[np.ndarray],
             bands: Sequence[str], card: str) -> list[np.ndarray]:
    """The planes of ``bands`` picked by their names ``names`` (from header ``card``)."""
    if sorted(names) != sorted(bands) or len(set(names)) != len(names):
        raise _wrong(path, f"{card} = {_names(names)}", bands)
    return [planes[list(names).index(b)] for b in bands]


def _fits_cube(path: Path, bands: Sequence[str]) -> list[np.ndarray]:
    """The planes of a FITS cube or of a file with one image HDU per band (module doc)."""
    from astropy.io import fits

    from lensfind.data.fits import cutout_bands
    images, names, found = [], [], []
    try:
        with fits.open(path, memmap=False) as hdul:
            for k, hdu in enumerate(hdul):
                data = getattr(hdu, "data", None) if hdu.is_image else None
                if data is None or not data.size:
                    continue
                arr = np.asarray(data, np.float32)
                while arr.ndim > 3 and arr.shape[0] == 1:
                    arr = arr[0]
                found.append(f"HDU {k} {'x'.join(map(str, arr.shape))}")
                if arr.ndim == 3:
                    named = cutout_bands(hdu.header)
                    if named:
                        if len(named) != len(arr):
                            raise _wrong(path, f"BANDS = {_names(named)} for {len(arr)} planes",
                                         bands)
                        return _by_name(path, named, list(arr), bands, "BANDS")
                    if len(arr) != len(bands):
                        raise _wrong(path, f"a cube of {len(arr)} planes ({found[-1]}, no "
                                     "BANDS card)", bands)
                    return list(arr)
                if arr.ndim == 2:
                    images.append(arr)
                    names.append(next((str(hdu.header[c]).strip() for c in BAND_CARDS
                                       if c in hdu.header), None))
    except CutoutError:
        raise
    except Exception as err:  # astropy raises many types for bad files
        raise CutoutError("unreadable", f"{path.name}: not a readable FITS file "
                          f"({type(err).__name__}: {str(err)[:200]})") from None
    if images and all(n is not None for n in names):
        return _by_name(path, names, images, bands, "/".join(BAND_CARDS))
    if len(images) != len(bands):
        raise _wrong(path, "found " + ("; ".join(found) or "no image"), bands)
    return images


def _npy_cube(path: Path, bands: Sequence[str]) -> list[np.ndarray]:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as err:
        raise CutoutError("unreadable", f"{path.name}: not a readable .npy array "
                          f"({type(err).__name__}: {str(err)[:200]})") from None
    if arr.ndim != 3 or len(arr) != len(bands) or arr.dtype.kind not in "biuf":
        raise _wrong(path, f"a .npy array {arr.dtype} of shape {arr.shape}", bands)
    return list(arr.astype(np.float32))


def load_cube(base_dir: Path, text: str, bands: Sequence[str]) -> np.ndarray:
    """``(h, w, C)`` of the cube file named by a row's ``path`` cell (see the module doc).

    Raises:
        CutoutError: ``empty_path``, ``missing_file``, ``unreadable``, ``wrong_bands`` or
            ``band_sizes``, naming the file.
    """
    path = resolve_path(base_dir, text)
    if not path.exists():
        raise CutoutError("missing_file", f"path = {text.strip()!r}: no such file: {path}")
    if not path.is_file():
        raise CutoutError("unreadable", f"path = {text.strip()!r}: {path} is not a regular "
                          "file; expected a FITS or .npy cube")
    with open(path, "rb") as fh:
        npy = fh.read(6) == b"\x93NUMPY"
    planes = _npy_cube(path, bands) if npy else _fits_cube(path, bands)
    return stack_planes(planes, bands, [f"{path.name} plane {k + 1}"
                                        for k in range(len(bands))])


# ------------------------------------------------------------------------------------ tiles

_BAND_SPEC = re.compile(r"^([A-Za-z0-9_]+)=(.+)$")


def split_band_tiles(specs: Sequence[str | Path], bands: Sequence[str]) -> dict[str, list[Path]]:
    """Band -> its tiles, from ``BAND=TILE`` specs (``--image``, ``--tile-list`` lines).

    Raises:
        CandidateListError: a spec without a band, a band the models do not take, or a band of
            the models without a tile (naming both lists).
    """
    tiles: dict[str, list[Path]] = {b: [] for b in bands}
    for spec in specs:
        match = _BAND_SPEC.match(str(spec))
        if match is None or match.group(1) not in tiles:
            raise CandidateListError(
                f"--image {str(spec)!r}: expected BAND=TILE.fits with BAND one of the models' "
                f"bands {_names(bands)} (e.g. --image {bands[0]}=tile_{bands[0]}.fits)")
        tiles[match.group(1)].append(Path(match.group(2)))
    given = [b for b in bands if tiles[b]]
    if given != list(bands):
        missing = [b for b in bands if not tiles[b]]
        raise CandidateListError(
            f"--image: tiles were given for the bands {_names(given)}; the models take "
            f"{_names(bands)}; add --image {missing[0]}=TILE.fits for each missing band "
            f"({', '.join(missing)})")
    return tiles


def check_pixel_scales(scales: dict[str, float]) -> None:
    """Refuse band tiles whose pixel scales [arcsec] differ by more than
    :data:`PIXEL_SCALE_SLACK`: a cutout of the models' size would cover different skies."""
    lo, hi = min(scales.values()), max(scales.values())
    if not (math.isfinite(lo) and hi <= lo * (1 + PIXEL_SCALE_SLACK)):
        listing = ", ".join(f"{b}: {s:.4g}" for b, s in scales.items())
        raise CandidateListError(
            f"--image: the band tiles' pixel scales differ ({listing} arcsec/pixel); expected "
            f"the same scale (within {PIXEL_SCALE_SLACK:.0%}) in every band -- resample them "
            "to one pixel grid first")
