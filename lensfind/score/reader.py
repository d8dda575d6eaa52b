"""Candidate lists and cutout files: read, check, and say exactly what is wrong with a bad row.

A candidate list is a UTF-8 CSV with a header line, or a table that ``astropy.table`` reads
(FITS binary table, ECSV; :data:`LIST_FORMATS`, chosen by the file's suffix), whose cells are
taken as text (floats as their shortest round-trip repr, masked cells empty). Columns (names
matched case-insensitively):

* ``id`` (required): the candidate's name; must be unique (later repeats are not scored).
* ``path`` (required unless cutouts are cut from a survey image): the cutout file, relative to
  the CSV's folder (absolute paths are accepted). FITS (plain or gzipped; the first HDU that
  holds an image) or NumPy ``.npy`` (read with ``allow_pickle=False``).
  For models of several bands, a cube per row, or instead one column per band
  (``path_g``, ``path_r``, ...): :mod:`lensfind.score.bands`.
* ``ra``, ``dec`` (optional; required with survey tiles): decimal degrees.
* ``index`` (required with a stack; ``--index-column``): the row's 0-based position in the
  stack (:mod:`lensfind.score.stacks`).
* ``grade`` (optional): a human grade such as A/B/C, summarised by :mod:`lensfind.score.report`.
* any other column is copied to the output unchanged.

The whole list is checked once before any scoring (:func:`scan_candidates`): it must decode as
UTF-8, have a header with the required columns and at least one row. Those problems refuse the
run at once (:class:`CandidateListError`, naming the file, line and column). Problems of single
rows never stop a run; each gets a status code and a reason (:data:`STATUSES`).

Shape rule for cutouts (:func:`conform`): leading axes of length 1 are dropped ((1, H, W) ->
(H, W)). A cutout whose sides each differ from the model's by at most ``tolerance`` (10 %,
rounded down: 10 pixels for 100x100) is centre-cropped (larger side) or padded evenly on both
sides with the median of its outermost pixel ring, a sky estimate (smaller side); the
reason column says so. Anything else is ``wrong_shape``.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import math
import os
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np

from lensfind.fitsio import TruncatedFits, parse_simple

#: status code -> meaning (the ``status`` column of the scores; ``ok`` rows are scored)
STATUSES: dict[str, str] = {
    "ok": "scored",
    "malformed_row": "the CSV row has more or fewer cells than the header",
    "empty_id": "the id cell is empty",
    "duplicate_id": "the id already appeared on an earlier row (only the first is scored)",
    "empty_path": "the path cell is empty",
    "missing_file": "the cutout file does not exist",
    "unreadable": "the file is not a readable FITS or NPY image (truncated, corrupt, pickled...)",
    "no_image": "the FITS file has no HDU holding an image",
    "wrong_shape": "the image is not 2-D or its size is too far from the model's input",
    "non_finite": "the image has NaN or infinite pixels",
    "bad_coordinates": "ra/dec missing or not numbers in range (survey-tile mode)",
    "off_image": "the cutout does not lie wholly inside any survey tile",
    "bad_index": "the stack index is not a whole number >= 0 (stack mode)",
    "index_out_of_range": "the stack index is past the end of the stack",
    "wrong_bands": "the cube's bands (count or names) differ from the models' bands",
    "band_sizes": "the bands of a multi-band cutout differ in size",
    "error": "an unexpected error while reading this row (the reason has the details)",
}

#: the column of band ``b``'s cutout file in a multi-band list with one file per band
BAND_COLUMN = "path_{band}"

#: files larger than this are opened memory-mapped (header first) instead of read whole
_READ_WHOLE_LIMIT = 16 * 2**20


class CandidateListError(ValueError):
    """The candidate list as a whole cannot be used; the message names file, line and column."""


class CutoutError(Exception):
    """One row cannot be scored. ``status`` is a key of :data:`STATUSES`; ``reason`` is text."""

    def __init__(self, status: str, reason: str):
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


# --------------------------------------------------------------------------- candidate lists

@dataclasses.dataclass(frozen=True)
class Row:
    """One record of the list. ``index`` counts data rows from 0; ``line`` is where it starts."""

    index: int
    line: int
    cells: tuple[str, ...]
    problem: str | None = None  # malformed_row reason


@dataclasses.dataclass
class CandidateList:
    """A checked candidate list (see :func:`scan_candidates`); rows are streamed, not held.

    Attributes:
        path: the CSV file.
        columns: header names as written in the file.
        n_rows: number of data rows (blank lines are skipped).
        sha256: digest of the file's bytes (resume refuses to mix two different lists).
        id_col, path_col, ra_col, dec_col, grade_col, index_col: column positions (None
            when absent).
        duplicates: row index -> index of the row where that id first appeared (repeats only).
        table: the cells of a table list (FITS, ECSV), held in memory; None for a CSV list,
            which is streamed.
        band_cols: band -> position of its ``path_<band>`` column, when a multi-band list
            names one file per band (:mod:`lensfind.score.bands`); None otherwise.
    """

    path: Path
    columns: list[str]
    n_rows: int
    sha256: str
    id_col: int
    path_col: int | None
    ra_col: int | None
    dec_col: int | None
    grade_col: int | None
    duplicates: dict[int, int]
    first_lines: dict[int, int]
    index_col: int | None = None
    table: list[tuple[str, ...]] | None = None
    band_cols: dict[str, int] | None = None

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def line_word(self) -> str:
        """What :attr:`Row.line` counts: ``"line"`` of a CSV file, ``"row"`` of a table."""
        return "line" if self.table is None else "row"

    def rows(self, start: int = 0, stop: int | None = None) -> Iterator[Row]:
        """Data rows with index in ``[start, stop)``, read lazily from the file."""
        records = _records(self.path, len(self.columns)) if self.table is None \
            else _table_rows(self.table)
        for row in records:
            if stop is not None and row.index >= stop:
                return
            if row.index >= start:
                yield row

    def chunks(self, size: int, start: int = 0, stop: int | None = None) -> Iterator[list[Row]]:
        """Lists of at most ``size`` rows of ``[start, stop)``; chunk ``k`` holds rows
        ``start + k*size`` on."""
        chunk: list[Row] = []
        for row in self.rows(start, stop):
            chunk.append(row)
            if len(chunk) == size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def cell(self, row: Row, col: int | None) -> str:
        if col is None or col >= len(row.cells):
            return ""
        return row.cells[col]


def _decoded_lines(path: Path, digest=None) -> Iterator[str]:
    """Lines of ``path`` as text; a line that is not UTF-8 refuses the list, naming the line."""
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if digest is not None:
                digest.update(raw)
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CandidateListError(
                    f"{path}, line {number}: not UTF-8 text (byte 0x{raw[err.start]:02x} at "
                    f"position {err.start + 1} of the line); expected a UTF-8 CSV file") from None
            if "\x00" in text:
                raise CandidateListError(
                    f"{path}, line {number}: contains NUL bytes, so it is a binary file; "
                    "expected a UTF-8 CSV text file")
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield text


def _records(path: Path, n_columns: int, digest=None) -> Iterator[Row]:
    """Data rows after the header (blank lines skipped); ragged rows carry a ``problem``."""
    lines = _decoded_lines(path, digest)
    reader = csv.reader(lines, strict=False)
    try:
        next(reader)  # header, checked by scan_candidates
    except StopIteration:
        return
    index = 0
    last_line = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            raise CandidateListError(f"{path}, line {reader.line_num}: not valid CSV ({err})") \
                from None
        start_line, last_line = last_line + 1, reader.line_num
        if not cells or (len(cells) == 1 and not cells[0].strip() and n_columns > 1):
            continue
        problem = None
        if len(cells) != n_columns:
            problem = (f"{len(cells)} cells on line {start_line}, the header has {n_columns} "
                       "columns")
            cells = (cells + [""] * n_columns)[:n_columns]
        yield Row(index, start_line, tuple(cells), problem)
        index += 1


def _find_column(columns: Sequence[str], name: str) -> int | None:
    wanted = name.strip().lower()
    hits = [i for i, c in enumerate(columns) if c.strip().lower() == wanted]
    return hits[0] if hits else None


def _table_rows(table: Sequence[tuple[str, ...]]) -> Iterator[Row]:
    for index, cells in enumerate(table):
        yield Row(index, index + 1, cells)


def _cell_texts(column) -> list[str]:
    """A table column's cells as text: shortest round-trip repr of numbers in their own
    precision (float32 150.1 -> "150.1"), NaN and masked -> ""."""
    mask = np.ma.getmaskarray(column) if hasattr(column, "mask") else None
    values = np.asarray(column)
    if values.dtype.kind == "S":
        texts = [v.decode("utf-8", "replace") for v in values.tolist()]
    elif values.dtype.kind == "f":  # the shortest text that reads back as the same value
        texts = [str(v) if np.isfinite(v) else "" for v in values]
    else:
        texts = [str(v) for v in values.tolist()]
    if mask is not None and mask.any():
        texts = ["" if m else t for t, m in zip(texts, mask.tolist())]
    return texts


def _csv_list(path: Path) -> tuple[list[str], None]:
    """A CSV list's header (its rows are streamed later)."""
    try:
        header = next(iter(csv.reader(_decoded_lines(path))), None)
    except csv.Error as err:
        raise CandidateListError(f"{path}, line 1: not valid CSV ({err})") from None
    except OSError as err:
        raise CandidateListError(f"{path}: cannot read ({err.strerror})") from None
    return header or [], None


def _astropy_list(fmt: str) -> Callable[[Path], tuple[list[str], list[tuple[str, ...]]]]:
    def read(path: Path) -> tuple[list[str], list[tuple[str, ...]]]:
        """A table list's header and its cells as text, read whole by ``astropy.table``."""
        from astropy.table import Table
        try:
            table = Table.read(path, format=fmt)
        except Exception as err:  # astropy raises many types for bad files
            raise CandidateListError(f"{path}: not a readable {fmt} table ({type(err).__name__}"
                                     f": {str(err)[:200]}); expected a table with a header "
                                     "of column names and one row per candidate") from None
        wide = [name for name in table.colnames if table[name].ndim > 1]
        if wide:
            raise CandidateListError(f"{path}: column(s) {', '.join(wide)} hold arrays per row; "
                                     "expected one value per cell")
        columns = [_cell_texts(table[name]) for name in table.colnames]
        return list(table.colnames), list(zip(*columns))
    return read


#: candidate-list suffix -> reader of ``(header, table cells or None for a streamed CSV)``
LIST_FORMATS: dict[str, Callable[[Path], tuple[list[str], list[tuple[str, ...]] | None]]] = {
    ".csv": _csv_list,
    ".fits": _astropy_list("fits"),
    ".fit": _astropy_list("fits"),
    ".fits.gz": _astropy_list("fits"),
    ".ecsv": _astropy_list("ascii.ecsv"),
}


def list_format(path: Path) -> str:
    """The key of :data:`LIST_FORMATS` for ``path`` (by suffix; unknown suffixes read as CSV)."""
    name = path.name.lower()
    return next((s for s in sorted(LIST_FORMATS, key=len, reverse=True) if name.endswith(s)),
                ".csv")


def scan_candidates(path: str | Path, *, id_column: str = "id", path_column: str = "path",
                    need_path: bool = True, need_radec: bool = False,
                    index_column: str | None = None,
                    bands: Sequence[str] = ()) -> CandidateList:
    """Check a candidate list once: encoding, header, columns, row count, repeats.

    A CSV list is streamed: memory is 8 bytes per row (a hash of each id); repeated ids are then
    confirmed exactly. A table list (:data:`LIST_FORMATS`) is held as text. ``index_column``:
    required column of stack indices (stack mode). ``bands``: the models' bands; a list of
    files with a ``path_<band>`` column for every band needs no ``path`` column.

    Raises:
        CandidateListError: missing or unreadable file, empty file, undecodable bytes, invalid
            CSV or table, a required column missing, repeated column names, or no data rows.
    """
    path = Path(path)
    if not path.is_file():
        raise CandidateListError(f"{path}: no such candidate list (expected a CSV, FITS or ECSV "
                                 f"table with columns {id_column},{path_column},...)")
    header_line, table = LIST_FORMATS[list_format(path)](path)
    band_cols = _band_columns(header_line or [], bands) if need_path else None
    path_needed = need_path and band_cols is None
    required = [id_column] + ([path_column] if path_needed else []) \
        + (["ra", "dec"] if need_radec else []) + ([index_column] if index_column else [])
    if not header_line or all(not c.strip() for c in header_line):
        raise CandidateListError(f"{path}: the file is empty; expected a header line with the "
                                 f"columns {','.join(required)} and one row per candidate")
    columns = [c.strip() for c in header_line]
    lowered = [c.lower() for c in columns]
    repeated = sorted({c for c in lowered if lowered.count(c) > 1 and c})
    if repeated:
        raise CandidateListError(f"{path}, line 1: column name(s) {', '.join(repeated)} appear "
                                 "more than once; expected unique column names")
    missing = [c for c in required if _find_column(columns, c) is None]
    if missing:
        raise CandidateListError(
            f"{path}, line 1: missing required column(s) {', '.join(missing)}; found "
            f"{', '.join(repr(c) if not c.isprintable() else c for c in columns)}; "
            f"expected at least {', '.join(required)}"
            + ("" if need_path else " (cutouts come from a stack or survey tiles)")
            + (f", or one file column per band ({', '.join(_band_names(bands))}) for the "
               "models' bands" if bands and path_needed else ""))
    id_col = _find_column(columns, id_column)
    assert id_col is not None

    digest = hashlib.sha256()
    if table is not None:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(2**20), b""):
                digest.update(block)
    records = _records(path, len(columns), digest) if table is None else _table_rows(table)
    hashes = array("q")
    n_rows = 0
    for row in records:
        ident = row.cells[id_col].strip() if row.problem is None else ""
        hashes.append(hash(ident) if ident else 0)
        n_rows += 1
    if n_rows == 0:
        raise CandidateListError(f"{path}: the header is there but no candidate rows follow; "
                                 "expected one row per cutout")
    # repeated hashes -> confirm the repeats exactly on a second pass (only those rows)
    h = np.frombuffer(hashes, dtype=np.int64)
    order = np.sort(h[h != 0])
    suspects = set(order[1:][order[1:] == order[:-1]].tolist())
    del h, order, hashes
    duplicates: dict[int, int] = {}
    first_lines: dict[int, int] = {}
    if suspects:
        first: dict[str, tuple[int, int]] = {}
        again = _records(path, len(columns)) if table is None else _table_rows(table)
        for row in again:
            ident = row.cells[id_col].strip() if row.problem is None else ""
            if not ident or hash(ident) not in suspects:
                continue
            if ident in first:
                duplicates[row.index] = first[ident][0]
                first_lines[row.index] = first[ident][1]
            else:
                first[ident] = (row.index, row.line)
    return CandidateList(
        path=path, columns=columns, n_rows=n_rows, sha256=digest.hexdigest(), id_col=id_col,
        path_col=_find_column(columns, path_column),
        ra_col=_find_column(columns, "ra"), dec_col=_find_column(columns, "dec"),
        grade_col=_find_column(columns, "grade"), duplicates=duplicates, first_lines=first_lines,
        index_col=_find_column(columns, index_column) if index_column else None, table=table,
        band_cols=band_cols)


def band_column(band: str) -> str:
    """The list column of ``band``'s cutout files, e.g. ``path_g`` (:mod:`.bands`)."""
    return BAND_COLUMN.format(band=band)


def _band_names(bands: Sequence[str]) -> list[str]:
    return [band_column(b) for b in bands]


def _band_columns(header: Sequence[str], bands: Sequence[str]) -> dict[str, int] | None:
    """Band -> column of its files, when the header has a ``path_<band>`` column for every band."""
    if not bands:
        return None
    columns = [c.strip() for c in header]
    found = {b: _find_column(columns, name) for b, name in zip(bands, _band_names(bands))}
    return None if None in found.values() else found  # type: ignore[return-value]


def row_problem(cands: CandidateList, row: Row) -> CutoutError | None:
    """The list-level problem of a row (malformed, empty or repeated id), if any."""
    if row.problem is not None:
        return CutoutError("malformed_row", row.problem)
    if not cands.cell(row, cands.id_col).strip():
        return CutoutError("empty_id", f"the id cell on {cands.line_word} {row.line} is empty")
    if row.index in cands.duplicates:
        return CutoutError("duplicate_id",
                           f"id {cands.cell(row, cands.id_col).strip()!r} already appeared on "
                           f"{cands.line_word} {cands.first_lines[row.index]} (only the first "
                           "is scored)")
    return None


# ------------------------------------------------------------------------------------ cutouts

def resolve_path(base_dir: Path, text: str) -> Path:
    """The cutout path of a row: relative paths are taken from the CSV's folder."""
    text = text.strip()
    if not text:
        raise CutoutError("empty_path", "the path cell is empty")
    p = Path(text).expanduser()
    return p if p.is_absolute() else base_dir / p


def _astropy_fits(path: Path, shape: tuple[int, int] | None, tolerance: float,
                  memmap: bool = False) -> np.ndarray:
    """Any FITS file astropy reads: the first HDU with an image (memory-mapped when large)."""
    from astropy.io import fits
    found = []
    try:
        with fits.open(path, memmap=memmap, lazy_load_hdus=True) as hdul:
            for k, hdu in enumerate(hdul):
                is_image = isinstance(hdu, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU))
                dims = tuple(hdu.shape) if is_image else ()
                found.append(f"HDU {k} {type(hdu).__name__}"
                             + (f" {'x'.join(map(str, dims))}" if dims else " (no image)"))
                if not is_image or not dims or 0 in dims:
                    continue
                squeezed = _squeeze_shape(dims)
                if shape is not None and not _shape_acceptable(squeezed, shape, tolerance):
                    raise CutoutError("wrong_shape", _shape_message(dims, shape, tolerance))
                data = hdu.data
                if data is None:
                    continue
                return np.array(data, dtype=np.float32).reshape(squeezed)
    except CutoutError:
        raise
    except Exception as err:  # astropy raises many types for bad files
        if memmap and "memory-mapped" in str(err):  # scaled integers cannot be memory-mapped
            return _astropy_fits(path, shape, tolerance, memmap=False)
        raise CutoutError("unreadable", f"not a readable FITS file ({type(err).__name__}: "
                          f"{str(err)[:200]})") from None
    raise CutoutError("no_image", "no HDU holds an image (found "
                      + ("; ".join(found) if found else "no HDU") + ")")


def _squeeze_shape(dims: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(int(d) for d in dims)
    while len(dims) > 2 and dims[0] == 1:
        dims = dims[1:]
    return dims


def _shape_acceptable(dims: tuple[int, ...], shape: tuple[int, int], tolerance: float) -> bool:
    if len(dims) != 2:
        return False
    return all(abs(d - s) <= math.floor(tolerance * s) for d, s in zip(dims, shape))


def _shape_message(dims: Sequence[int], shape: tuple[int, int], tolerance: float) -> str:
    shown = "x".join(map(str, dims))
    if len(_squeeze_shape(dims)) != 2:
        what = f"{len(dims)}-D data {shown}"
    else:
        what = f"image is {shown}"
    slack = [math.floor(tolerance * s) for s in shape]
    return (f"{what}; the models need {shape[0]}x{shape[1]} (2-D; sizes within "
            f"+-{slack[0]}x{slack[1]} pixels are centre-cropped or padded)")


def read_image(path: Path, *, shape: tuple[int, int] | None = None,
               tolerance: float = 0.1) -> np.ndarray:
    """The pixels of one cutout file as float32, leading unit axes dropped.

    FITS (first HDU with an image, plain or gzipped) or NPY (``allow_pickle=False``). With
    ``shape``, sizes that no crop or pad could fix are refused before the pixels are read.

    Raises:
        CutoutError: ``missing_file``, ``unreadable``, ``no_image`` or ``wrong_shape``.
    """
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise CutoutError("missing_file", f"no such file: {path}") from None
    except OSError as err:
        raise CutoutError("unreadable", f"cannot open {path} ({err.strerror})") from None
    if not os.path.isfile(path):
        raise CutoutError("unreadable", f"{path} is not a regular file")
    if size == 0:
        raise CutoutError("unreadable", "the file is empty (0 bytes)")
    try:
        with open(path, "rb") as fh:
            head = fh.read(_READ_WHOLE_LIMIT if size <= _READ_WHOLE_LIMIT else 16)
    except OSError as err:
        raise CutoutError("unreadable", f"cannot read {path} ({err.strerror})") from None
    if head.startswith(b"\x93NUMPY"):
        return _read_npy(path, shape, tolerance)
    if head.startswith(b"PK\x03\x04"):
        raise CutoutError("unreadable", "a zip/NPZ archive; expected one image per FITS or "
                          ".npy file")
    if size <= _READ_WHOLE_LIMIT:
        try:
            data = parse_simple(head)  # None: not a simple FITS file, astropy decides below
        except TruncatedFits as err:
            raise CutoutError("unreadable", str(err)) from None
        if data is not None:
            if shape is not None and not _shape_acceptable(data.shape, shape, tolerance):
                raise CutoutError("wrong_shape", _shape_message(data.shape, shape, tolerance))
            return data
    if not (head.startswith(b"SIMPLE") or head.startswith(b"\x1f\x8b")):
        raise CutoutError("unreadable", f"not a FITS or NPY file (starts with {head[:16]!r})")
    return _astropy_fits(path, shape, tolerance, memmap=size > _READ_WHOLE_LIMIT)


def _read_npy(path: Path, shape: tuple[int, int] | None, tolerance: float) -> np.ndarray:
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except Exception as err:  # ValueError for object arrays, EOFError/OSError for truncation
        if "object" in str(err).lower():
            raise CutoutError("unreadable", ".npy array of Python objects (pickled data, never "
                              "loaded); expected a numeric array") from None
        raise CutoutError("unreadable", f"not a readable .npy array ({type(err).__name__}: "
                          f"{str(err)[:200]})") from None
    if arr.dtype.kind not in "biuf":
        raise CutoutError("unreadable", f".npy array of dtype {arr.dtype}; expected numbers")
    dims = _squeeze_shape(arr.shape)
    if len(dims) != 2 or (shape is not None and not _shape_acceptable(dims, shape, tolerance)):
        raise CutoutError("wrong_shape", _shape_message(arr.shape, shape or dims[-2:], tolerance)
                          if shape is not None else f"{arr.ndim}-D array {arr.shape}")
    try:
        return np.array(arr, dtype=np.float32).reshape(dims)
    except Exception as err:
        raise CutoutError("unreadable", f"truncated .npy file ({type(err).__name__}: "
                          f"{str(err)[:200]})") from None


def _ring_median(image: np.ndarray) -> float:
    ring = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    ring = ring[np.isfinite(ring)]
    return float(np.median(ring)) if ring.size else 0.0


def conform(image: np.ndarray, shape: tuple[int, int], *,
            tolerance: float = 0.1) -> tuple[np.ndarray, str]:
    """Bring a cutout to the model's ``shape`` by the module's crop/pad rule; check its pixels.

    Returns ``(image float32 (H, W), note)`` where ``note`` is "" or says what was changed.

    Raises:
        CutoutError: ``wrong_shape`` (not 2-D, or too far from ``shape``) or ``non_finite``.
    """
    dims = _squeeze_shape(image.shape)
    if not _shape_acceptable(dims, shape, tolerance):
        raise CutoutError("wrong_shape", _shape_message(image.shape, shape, tolerance))
    image = image.reshape(dims)
    note = ""
    h, w = dims
    H, W = shape
    if (h, w) != (H, W):
        top, left = max(h - H, 0) // 2, max(w - W, 0) // 2
        image = image[top:top + min(h, H), left:left + min(w, W)]
    bad = ~np.isfinite(image)
    if bad.any():
        n_nan = int(np.isnan(image).sum())
        n_inf = int(bad.sum()) - n_nan
        raise CutoutError("non_finite", f"{n_nan} NaN and {n_inf} infinite pixel(s) of "
                          f"{image.size}; mask or fill them before scoring")
    if (h, w) != (H, W):
        ph, pw = max(H - h, 0), max(W - w, 0)
        fill = _ring_median(image)
        if ph or pw:
            image = np.pad(image, ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)),
                           constant_values=fill)
        what = []
        if h > H or w > W:
            what.append("centre-cropped")
        if ph or pw:
            what.append(f"padded with the border median {fill:.4g}")
        note = f"{' and '.join(what)} from {h}x{w} to {H}x{W}"
    return np.ascontiguousarray(image, dtype=np.float32), note


def load_cutout(base_dir: Path, path_text: str, shape: tuple[int, int], *,
                tolerance: float = 0.1) -> tuple[np.ndarray, str]:
    """Read and conform the cutout of one row: ``(image (H, W) float32, note)``.

    Raises:
        CutoutError: with the row's status and reason; unexpected errors become ``error``.
    """
    try:
        path = resolve_path(base_dir, path_text)
        return conform(read_image(path, shape=shape, tolerance=tolerance), shape,
                       tolerance=tolerance)
    except CutoutError:
        raise
    except MemoryError:
        raise CutoutError("error", "out of memory while reading the file") from None
    except Exception as err:  # never let one row stop the run
        raise CutoutError("error", f"{type(err).__name__}: {str(err)[:200]}") from None

