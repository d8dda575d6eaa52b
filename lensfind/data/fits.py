"""FITS cutouts and their CSV index: the exchange format with telescopes and the candidate scorer.

A cutout folder holds one FITS file per cutout (2-D float32 image in the primary HDU; row 0 is
the bottom row, as FITS viewers show it, so the simulator's "y up" convention is kept; a
multi-band set writes a cube ``(C, H, W)``, plane ``k`` the band named by card ``BAND<k+1>``,
all of them listed in ``BANDS``) and an index CSV::

    id,path,label,kind,morphology,system_id,theta_e,e1,...
    000000,cutouts/000000.fits,1,lens,ring,0,1.0312,...

``morphology`` is a lens's ring / arc / double / quad (:func:`lensfind.sim.params.morphology`;
empty for non-lenses and for sets simulated before it was recorded).

``path`` is relative to the CSV file (absolute paths are accepted when reading). Only ``id`` and
``path`` are required by :func:`read_index` / :func:`read_cutouts`; other columns are passed
through untouched, so a hand-made index of real cutouts works too. Missing parameter values are
empty cells.

Header cards written for each cutout: ``BUNIT`` (electron), ``PIXSCALE`` (arcsec/pixel), a
celestial WCS, ``OBJECT`` (the id), ``LABEL``, ``KIND``, ``SYSID`` and the key lens parameters
that apply (``THETA_E``, ``E1``, ``E2``, ``CENTER_X``, ``CENTER_Y``, ``MAGNIF``, ``G1``, ``G2``,
``SNR``), each with its unit and direction in the comment.

Sky orientation (:data:`ORIENTATION`, also written as COMMENT cards): a cutout is North up and
East left as displayed with row 0 at the bottom, so ``+x`` (``+column``) points West and ``+y``
(``+row``) North. The WCS says the same: ``CTYPE = RA---TAN, DEC--TAN``, ``CDELT1 = -PIXSCALE``
(RA grows to the left), ``CDELT2 = +PIXSCALE``, reference pixel the cutout centre at a nominal
``CRVAL = (0, 0)`` (simulated cutouts have no true position), so the WCS puts the lens at
``dRA cos(Dec) = -CENTER_X``, ``dDec = CENTER_Y``. Position angles ``phi`` of ``E1, E2, G1, G2``
run counter-clockwise from ``+x`` (West) through ``+y`` (North): the astronomical PA, East of
North, is ``phi - 90 deg``. In a frame whose ``x`` grows to the East (lenstronomy with
``inverse=True``, i.e. ``ra = -x``) ``CENTER_X``, ``E2`` and ``G2`` change sign; ``THETA_E``,
``E1``, ``G1`` and ``CENTER_Y`` do not.
"""
from __future__ import annotations

import csv
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.data.store import DataError, DataSet
from lensfind.files import atomic_path
from lensfind.sim.params import morphology

INDEX_NAME = "index.csv"
CUTOUT_DIR = "cutouts"
FIXED_COLUMNS = ("id", "path", "label", "kind", "morphology", "system_id")
REQUIRED_COLUMNS = ("id", "path")

#: parameter -> (FITS keyword, unit) for the header cards (keywords are at most 8 characters)
HEADER_PARAMS = {
    "theta_e": ("THETA_E", "arcsec"), "e1": ("E1", ""), "e2": ("E2", ""),
    "center_x": ("CENTER_X", "arcsec"), "center_y": ("CENTER_Y", "arcsec"),
    "magnification": ("MAGNIF", ""), "g1": ("G1", ""), "g2": ("G2", ""), "snr": ("SNR", ""),
}
PARAM_DESCRIPTIONS = {
    "theta_e": "Einstein radius", "e1": "SIE e1, phi from +x (W) via N",
    "e2": "SIE e2, phi from +x (W) via N",
    "center_x": "lens x from centre, +x = +col = West",
    "center_y": "lens y from centre, +y = +row = North",
    "magnification": "source magnification inside cutout", "g1": "ext. shear g1, phi from W",
    "g2": "ext. shear g2, phi from W via N", "snr": "signal-to-noise of the lensed source",
}
#: the COMMENT cards of every cutout: the sky orientation (see the module docstring)
ORIENTATION = (
    "Orientation: North up, East left with row 0 at the bottom:",
    "+x = +column = West, +y = +row = North; the WCS (CDELT1 < 0) puts the",
    "lens at dRA cos(Dec) = -CENTER_X, dDec = CENTER_Y.",
    "Angles phi of E1, E2, G1, G2 run from +x (West) through +y (North):",
    "PA (E of N) = phi - 90 deg. In a frame with x growing East",
    "(lenstronomy inverse=True) CENTER_X, E2 and G2 change sign.",
)


def _fmt(value: Any) -> str:
    """CSV cell: shortest float32 round-trip text, empty for NaN."""
    if isinstance(value, (float, np.floating)):
        return "" if np.isnan(value) else str(np.float32(value))
    return str(value)


def cutout_header(dataset: DataSet, i: int, ident: str):
    """The FITS header of cutout ``i`` of ``dataset`` (see the module doc for the cards)."""
    from astropy.io import fits
    header = fits.Header()
    header["BUNIT"] = ("electron", "counts (electrons), sky subtracted")
    if dataset.bands:
        header["BANDS"] = (",".join(dataset.bands), "bands of the cube planes, in order")
        for k, band in enumerate(dataset.bands, start=1):
            header[f"BAND{k}"] = (band, f"band of plane {k}")
    scale = dataset.pixel_scale
    if scale is not None and np.isfinite(scale):
        ny, nx = dataset.images.shape[1:3]
        header["PIXSCALE"] = (float(scale), "arcsec / pixel")
        header["CTYPE1"] = ("RA---TAN", "RA grows to the left (East left)")
        header["CTYPE2"] = ("DEC--TAN", "Dec grows upwards (North up)")
        header["CRPIX1"] = ((nx + 1) / 2.0, "cutout centre (x = 0)")
        header["CRPIX2"] = ((ny + 1) / 2.0, "cutout centre (y = 0)")
        header["CRVAL1"] = (0.0, "nominal: a simulated cutout has no position")
        header["CRVAL2"] = (0.0, "nominal: a simulated cutout has no position")
        header["CDELT1"] = (-float(scale) / 3600.0, "deg / pixel; +x (+column) = West")
        header["CDELT2"] = (float(scale) / 3600.0, "deg / pixel; +y (+row) = North")
        header["CUNIT1"] = "deg"
        header["CUNIT2"] = "deg"
    header["OBJECT"] = (ident, "cutout id (index id column)")
    header["LABEL"] = (int(dataset.labels[i]), "1 = lens, 0 = non-lens")
    header["KIND"] = (str(dataset.kinds[i]), "kind of cutout")
    header["SYSID"] = (int(dataset.system_id[i]), "simulated system id")
    seed = dataset.meta.get("seed")
    if isinstance(seed, int) and seed >= 0:
        header["SIMSEED"] = (seed, "seed of the simulated set")
    for name, (key, unit) in HEADER_PARAMS.items():
        if name not in dataset.params:
            continue
        value = float(dataset.params[name][i])
        if np.isfinite(value):
            desc = PARAM_DESCRIPTIONS.get(name, name)
            header[key] = (float(str(np.float32(value))), f"[{unit}] {desc}" if unit else desc)
    for line in ORIENTATION:
        header["COMMENT"] = line
    return header


def export_fits(dataset: DataSet, out_dir: str | Path, *, index_name: str = INDEX_NAME,
                progress: bool = False, prefix: str = "") -> Path:
    """Write one FITS file per cutout under ``out_dir/cutouts/`` plus ``out_dir/index.csv``.

    Returns the path of the CSV index. Existing files of the same names are overwritten.
    """
    from astropy.io import fits
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir} is a file: expected a folder for the FITS cutouts")
    (out_dir / CUTOUT_DIR).mkdir(parents=True, exist_ok=True)
    n = len(dataset)
    width = max(6, len(str(max(n - 1, 0))))
    names = list(dataset.params)
    shapes = (morphology(dataset.params) if "arc_segments" in dataset.params
              else np.full(n, "", dtype=str))
    iterator: Any = range(n)
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, total=n, unit="file", desc="FITS cutouts", dynamic_ncols=True)
    index_path = out_dir / index_name
    with atomic_path(index_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(list(FIXED_COLUMNS) + names)
        for i in iterator:
            ident = f"{prefix}{i:0{width}d}"
            rel = f"{CUTOUT_DIR}/{ident}.fits"
            image = dataset.images[i] if not dataset.bands else np.moveaxis(dataset.images[i],
                                                                            -1, 0)
            hdu = fits.PrimaryHDU(np.ascontiguousarray(image, np.float32),
                                  header=cutout_header(dataset, i, ident))
            hdu.writeto(out_dir / rel, overwrite=True)
            writer.writerow([ident, rel, int(dataset.labels[i]), str(dataset.kinds[i]),
                             shapes[i], int(dataset.system_id[i])]
                            + [_fmt(dataset.params[k][i]) for k in names])
    return index_path


# --------------------------------------------------------------------------------------- read

def cutout_bands(header) -> tuple[str, ...]:
    """Band names of a cutout from its ``BANDS`` card; ``()`` for a single-band image."""
    text = str(header.get("BANDS", "") or "")
    return tuple(b.strip() for b in text.split(",")) if text else ()


def read_cutout(path: str | Path) -> tuple[np.ndarray, Any]:
    """``(image float32 (H, W), header)`` of a FITS cutout: the first HDU with a 2-D image, or
    ``(H, W, C)`` from a cube ``(C, H, W)`` whose ``BANDS`` card names its C planes.

    A 3-D cube with a single plane (1, H, W) and no ``BANDS`` is accepted as 2-D. Raises
    ``FileNotFoundError`` or :class:`DataError` naming the file.
    """
    from astropy.io import fits
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such FITS cutout")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with fits.open(path, memmap=False) as hdul:
                for hdu in hdul:
                    data = getattr(hdu, "data", None)
                    if data is None or not hasattr(data, "ndim"):
                        continue
                    arr = np.asarray(data)
                    bands = cutout_bands(hdu.header)
                    if bands:
                        if arr.ndim != 3 or arr.shape[0] != len(bands):
                            raise DataError(f"{path}: BANDS = {list(bands)} names "
                                            f"{len(bands)} planes but the image has shape "
                                            f"{arr.shape}; expected ({len(bands)}, H, W)")
                        return (np.moveaxis(arr, 0, -1).astype(np.float32),
                                hdu.header.copy())
                    if arr.ndim == 3 and arr.shape[0] == 1:
                        arr = arr[0]
                    if arr.ndim == 2:
                        return arr.astype(np.float32), hdu.header.copy()
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read as FITS ({err})") from None
    raise DataError(f"{path}: no 2-D image in any HDU (expected a single-band cutout)")


def read_index(csv_path: str | Path) -> list[dict[str, str]]:
    """Rows of an index CSV as dicts; ``path`` is resolved relative to the CSV file.

    The columns ``id`` and ``path`` are required; ids must be unique. Other columns are kept as
    text, unchanged.
    """
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path}: no such index CSV (expected columns "
                                f"{', '.join(REQUIRED_COLUMNS)}, ...)")
    with open(csv_path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = reader.fieldnames or []
        missing = [c for c in REQUIRED_COLUMNS if c not in columns]
        if missing:
            raise DataError(f"{csv_path}: missing column(s) {', '.join(missing)} (found "
                            f"{', '.join(columns) or 'none'}; expected at least "
                            f"{', '.join(REQUIRED_COLUMNS)})")
        rows = []
        seen: set[str] = set()
        for line, row in enumerate(reader, start=2):
            ident, rel = (row.get("id") or "").strip(), (row.get("path") or "").strip()
            if not ident or not rel:
                raise DataError(f"{csv_path}, line {line}: empty id or path")
            if ident in seen:
                raise DataError(f"{csv_path}, line {line}: duplicate id {ident!r}")
            seen.add(ident)
            p = Path(rel)
            row["path"] = str(p if p.is_absolute() else csv_path.parent / p)
            rows.append(row)
    return rows


@dataclass
class Cutouts:
    """Cutouts listed by an index CSV.

    Attributes:
        ids: str (N,) the ``id`` column.
        images: float32 (N, H, W), or (N, H, W, C) for cubes.
        rows: the CSV rows (dicts of text, ``path`` resolved), for passing columns through.
        headers: the FITS header of each cutout.
        pixel_scale: the common ``PIXSCALE`` card if all cutouts have the same one, else None.
        bands: the cubes' band names (``BANDS``), the same for every cutout; ``()``: 2-D.
    """

    ids: np.ndarray
    images: np.ndarray
    rows: list[dict[str, str]]
    headers: list[Any] = field(default_factory=list)
    pixel_scale: float | None = None
    bands: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.ids)


def read_cutouts(csv_path: str | Path, *, progress: bool = False) -> Cutouts:
    """Read an index CSV and all its FITS cutouts (all must have the same shape)."""
    rows = read_index(csv_path)
    if not rows:
        raise DataError(f"{csv_path}: the index lists no cutouts")
    images, headers = [], []
    iterator: Any = rows
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(rows, unit="file", desc="read cutouts", dynamic_ncols=True)
    for row in iterator:
        image, header = read_cutout(row["path"])
        if headers and cutout_bands(header) != cutout_bands(headers[0]):
            raise DataError(f"{row['path']}: bands {list(cutout_bands(header))} differ from "
                            f"the first cutout's {list(cutout_bands(headers[0]))} "
                            f"({rows[0]['path']}); all cutouts of an index must have the same")
        if images and image.shape != images[0].shape:
            raise DataError(f"{row['path']}: shape {image.shape} differs from the first cutout "
                            f"{images[0].shape} ({rows[0]['path']}); all cutouts of an index "
                            "must have the same size")
        images.append(image)
        headers.append(header)
    scales = {h.get("PIXSCALE") for h in headers}
    scale = scales.pop() if len(scales) == 1 else None
    return Cutouts(ids=np.array([r["id"] for r in rows], dtype=str), images=np.stack(images),
                   rows=rows, headers=headers,
                   pixel_scale=float(scale) if scale is not None else None,
                   bands=cutout_bands(headers[0]))


def cutouts_to_dataset(cutouts: Cutouts, params: Sequence[str] | None = None) -> DataSet:
    """A :class:`DataSet` from cutouts whose index has ``label`` (and optionally ``kind``,
    ``system_id`` and parameter) columns, e.g. one written by :func:`export_fits`."""
    n = len(cutouts)
    first = cutouts.rows[0]
    if "label" not in first:
        raise DataError("the index has no 'label' column: cannot make a labelled data set")
    skip = set(FIXED_COLUMNS)
    names = list(params) if params is not None else [k for k in first if k not in skip]

    def number(text: str | None) -> float:
        try:
            return float(text) if text not in (None, "") else float("nan")
        except ValueError:
            return float("nan")

    return DataSet(
        images=cutouts.images.astype(np.float32, copy=False),
        labels=np.array([int(r["label"]) for r in cutouts.rows], np.int8),
        params={k: np.array([number(r.get(k)) for r in cutouts.rows], np.float32) for k in names},
        kinds=np.array([r.get("kind") or ("lens" if r["label"] == "1" else "unknown")
                        for r in cutouts.rows], dtype=str),
        system_id=np.array([int(r["system_id"]) if r.get("system_id") else i
                            for i, r in enumerate(cutouts.rows)], np.int64),
        meta={"pixel_scale": cutouts.pixel_scale if cutouts.pixel_scale is not None
              else float("nan"), "n": n} | ({"bands": list(cutouts.bands)} if cutouts.bands
                                           else {}))
