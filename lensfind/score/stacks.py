"""Cutout stacks: many cutouts in one file, addressed by a 0-based index per catalogue row.

``lensfind score CATALOGUE --stack STACK ...`` reads row ``i``'s cutout at the index in its
``index`` column (``--index-column``). Stack formats (:data:`STACK_FORMATS`, by suffix):

* HDF5 (``.h5``, ``.hdf5``): a dataset ``N x H x W`` -- ``STACK.h5:NAME`` names it; without a
  name, ``images`` (lensfind's own simulated sets, :mod:`lensfind.data.store`) or else the only
  3-D dataset in the file. Read through h5py, a chunk's indices at once. For models of several
  bands, an ``N x H x W x C`` dataset whose file attribute ``bands`` (JSON, as
  :mod:`lensfind.data.store` writes it) must equal the models' bands; a file without it must
  have C = the models' band count, in their order.
* FITS (``.fits``, ``.fit``, ``.fits.gz``, ``.fz``): the first HDU holding a cube
  ``N x H x W`` (memory-mapped, ``BSCALE``/``BZERO``/``BLANK`` applied per cutout); in a file
  without a cube, every HDU holding a 2-D image, in file order (a multi-extension FITS: index
  ``k`` is the ``k``-th image HDU; images of other sizes are cropped, padded or refused per row).
  Single-band models only.

A stack whose cutout size no crop or pad can fix (see :func:`~lensfind.score.reader.conform`)
refuses the run before any scoring; per row, an index that is not a whole number gets
``bad_index`` and one past the end of the stack ``index_out_of_range``.
"""
from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lensfind.score.reader import (
    CandidateListError,
    CutoutError,
    _shape_acceptable,
    _shape_message,
)

#: the dataset of an HDF5 stack read when none is named
DEFAULT_DATASET = "images"


class Stack:
    """An open stack: ``len(stack)`` cutouts of ``shape`` (H, W); see the module doc.

    Subclasses implement :meth:`read` and :meth:`close`; ``label`` names file and part.
    """

    label: str
    shape: tuple[int, int] | None  # None: a multi-extension FITS whose images may differ

    def __len__(self) -> int:
        return self.n

    def read(self, indices: np.ndarray) -> list[np.ndarray]:
        """The cutouts at ``indices`` (each in ``[0, len)``), float32, in the given order."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _runs(indices: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, stop)]`` of the consecutive runs of sorted unique ``indices``."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    starts = np.r_[0, breaks]
    stops = np.r_[breaks, len(indices)]
    return [(int(indices[a]), int(indices[b - 1]) + 1) for a, b in zip(starts, stops)]


def _read_runs(data, indices: np.ndarray, convert: Callable[[np.ndarray], np.ndarray]
               ) -> list[np.ndarray]:
    """``data[indices]`` read one slice per run of consecutive indices (h5py and memory maps
    read slices fastest), returned in the order asked for."""
    wanted = np.unique(indices)
    found: dict[int, np.ndarray] = {}
    for start, stop in _runs(wanted):
        block = convert(np.asarray(data[start:stop]))
        found.update((start + k, block[k]) for k in range(stop - start))
    return [found[int(i)] for i in indices]


class Hdf5Stack(Stack):
    """An ``N x H x W`` HDF5 dataset, or ``N x H x W x C`` for models of several bands."""

    def __init__(self, path: Path, dataset: str | None, bands: Sequence[str] = ()):
        import h5py
        try:
            self._file = h5py.File(path, "r")
        except OSError as err:
            raise CandidateListError(f"--stack {path}: not a readable HDF5 file ({err})") \
                from None
        ndim = 4 if bands else 3
        layout = f"N x H x W x {len(bands)}" if bands else "N x H x W"
        cubes: list[str] = []
        self._file.visititems(lambda name, obj: cubes.append(name)
                              if isinstance(obj, h5py.Dataset) and obj.ndim == ndim else None)
        name = dataset or (DEFAULT_DATASET if DEFAULT_DATASET in cubes else
                           cubes[0] if len(cubes) == 1 else None)
        if name not in cubes:
            self._file.close()
            what = f"dataset {dataset!r} is not a {ndim}-D dataset" if dataset else \
                f"no dataset was named and there is no single {ndim}-D one"
            raise CandidateListError(
                f"--stack {path}: {what}; found {ndim}-D datasets {', '.join(cubes) or '(none)'}"
                f"; expected an {layout} dataset, named as {path.name}:NAME")
        self.data = self._file[name]
        if bands:
            self._check_bands(path, list(bands))
        self.n = int(self.data.shape[0])
        self.shape = (int(self.data.shape[1]), int(self.data.shape[2]))
        self.label = f"{path}:{name}"

    def _check_bands(self, path: Path, bands: list[str]) -> None:
        """Refuse a set whose ``bands`` attribute or channel count differs from ``bands``."""
        text = self._file.attrs.get("bands")
        have = json.loads(text) if text is not None else None
        channels = int(self.data.shape[-1])
        if (have is not None and have != bands) or channels != len(bands):
            self._file.close()
            found = f"bands {have}" if have is not None else "no bands attribute"
            raise CandidateListError(
                f"--stack {path}: the stack's {found} ({channels} channels) differ from the "
                f"models' bands {bands}; expected an N x H x W x {len(bands)} set of the "
                "models' bands in their order")

    def read(self, indices: np.ndarray) -> list[np.ndarray]:
        return _read_runs(self.data, indices, lambda a: a.astype(np.float32, copy=False))

    def close(self) -> None:
        self._file.close()


def _scaling(header, dtype) -> Callable[[np.ndarray], np.ndarray]:
    """Raw FITS pixels -> float32 with ``BLANK`` -> NaN and ``BSCALE``/``BZERO`` applied."""
    bscale, bzero = float(header.get("BSCALE", 1.0)), float(header.get("BZERO", 0.0))
    blank = header.get("BLANK") if np.dtype(dtype).kind in "iu" else None

    scaled = bscale != 1.0 or bzero != 0.0

    def convert(raw: np.ndarray) -> np.ndarray:
        out = (raw * bscale + bzero if scaled else raw).astype(np.float32)  # float64 inside
        if blank is not None:
            out[raw == blank] = np.nan
        return out
    return convert


class FitsStack(Stack):
    """A FITS cube ``N x H x W`` (first HDU with 3-D data), else a multi-extension FITS."""

    def __init__(self, path: Path, part: str | None, bands: Sequence[str] = ()):
        from astropy.io import fits
        if bands:
            raise CandidateListError(f"--stack {path}: the models take the bands {list(bands)};"
                                     " a multi-band stack must be an HDF5 N x H x W x C set "
                                     "(FITS stacks hold single-band cutouts)")
        if part is not None:
            raise CandidateListError(f"--stack {path}:{part}: a FITS stack takes no :NAME; "
                                     "expected the file alone")
        try:
            self._hdul = fits.open(path, memmap=True, do_not_scale_image_data=True)
        except Exception as err:
            raise CandidateListError(f"--stack {path}: not a readable FITS file "
                                     f"({type(err).__name__}: {str(err)[:200]})") from None
        self.label = str(path)
        images: list[int] = []
        for k, hdu in enumerate(self._hdul):
            if not isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
                continue
            dims = tuple(int(d) for d in (hdu.shape or ()))
            while len(dims) > 3 and dims[0] == 1:
                dims = dims[1:]
            if len(dims) == 3:
                self.data = hdu.data.reshape(dims)
                self._convert = _scaling(hdu.header, self.data.dtype)
                self.n, self.shape, self._hdus = dims[0], (dims[1], dims[2]), None
                return
            if len(dims) == 2:
                images.append(k)
        if not images:
            self._hdul.close()
            raise CandidateListError(f"--stack {path}: no HDU holds an N x H x W cube or a 2-D "
                                     "image; expected a FITS cube or a multi-extension FITS")
        self._hdus = images
        self.n = len(images)
        shapes = {tuple(self._hdul[k].shape) for k in images}
        self.shape = tuple(shapes.pop()) if len(shapes) == 1 else None

    def read(self, indices: np.ndarray) -> list[np.ndarray]:
        if self._hdus is None:
            return _read_runs(self.data, indices, self._convert)
        out = []
        for i in indices:
            hdu = self._hdul[self._hdus[int(i)]]
            out.append(_scaling(hdu.header, hdu.data.dtype)(np.asarray(hdu.data)))
        return out

    def close(self) -> None:
        self._hdul.close()


#: stack suffix -> opener ``(path, part after ':' or None, the models' bands) -> Stack``
STACK_FORMATS: dict[str, Callable[[Path, str | None, Sequence[str]], Stack]] = {
    ".h5": Hdf5Stack,
    ".hdf5": Hdf5Stack,
    ".fits": FitsStack,
    ".fit": FitsStack,
    ".fits.gz": FitsStack,
    ".fz": FitsStack,
}


def split_spec(spec: str | Path) -> tuple[Path, str | None]:
    """``STACK`` or ``STACK:NAME`` -> ``(path, NAME or None)`` (an existing path wins)."""
    text = str(spec)
    if Path(text).exists() or ":" not in Path(text).name:
        return Path(text), None
    head, _, part = text.rpartition(":")
    return Path(head), part or None


def open_stack(spec: str | Path, bands: Sequence[str] = ()) -> Stack:
    """Open a stack (``STACK`` or ``STACK.h5:NAME``) for models of ``bands`` (``()``: one).

    Raises:
        CandidateListError: missing file, unknown suffix, no stack inside, or other bands.
    """
    path, part = split_spec(spec)
    name = path.name.lower()
    suffix = next((s for s in sorted(STACK_FORMATS, key=len, reverse=True)
                   if name.endswith(s)), None)
    if suffix is None:
        raise CandidateListError(f"--stack {path}: unknown stack format; expected a file ending "
                                 f"in {', '.join(STACK_FORMATS)}")
    if not path.is_file():
        raise CandidateListError(f"--stack {path}: no such file; expected an HDF5 or FITS stack")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return STACK_FORMATS[suffix](path, part, bands)


def check_shape(stack: Stack, shape: tuple[int, int], tolerance: float) -> None:
    """Refuse a stack whose cutout size no crop or pad can bring to the models' ``shape``."""
    if stack.shape is not None and not _shape_acceptable(stack.shape, shape, tolerance):
        message = _shape_message(stack.shape, shape, tolerance)
        raise CandidateListError(f"--stack {stack.label}: {message}")


def parse_index(text: str, n: int) -> int:
    """A row's stack index from its cell; ``bad_index`` or ``index_out_of_range`` otherwise."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0 and value == int(value)):
        raise CutoutError("bad_index", f"index = {text!r}: expected a whole number in "
                          f"[0, {n - 1}]")
    if int(value) >= n:
        raise CutoutError("index_out_of_range", f"index = {text.strip()}: past the end of the "
                          f"stack of {n} cutouts (expected 0 to {n - 1})")
    return int(value)
