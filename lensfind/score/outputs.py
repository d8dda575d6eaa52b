"""The final scores file in the format its name asks for (:data:`OUTPUT_FORMATS`, by suffix).

* ``.csv``: streamed, row by row (:class:`~lensfind.score.rows.RowFormat`'s cells).
* ``.fits`` (binary table), ``.ecsv``, ``.parquet`` (needs ``pyarrow``: the ``parquet`` extra):
  made an ``astropy.table.Table`` once all rows are in and written by astropy (Parquet by
  pyarrow from that table, so that a missing rank is a null). Input columns, ``status`` and
  ``reason`` are text (UTF-8 bytes in FITS), ``rank`` an integer column masked (null) where a
  row has no rank, and the scores float64 with NaN where a row has no score.

The columns and their order are those of the CSV file; :func:`check_output` refuses an unknown
suffix, or ``.parquet`` without ``pyarrow``, before any work.
"""
from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from lensfind.score.rows import RANK_COLUMN, RowFormat, ScoreRow
from lensfind.validation import ConfigError


@contextlib.contextmanager
def _csv(path: Path, row_format: RowFormat) -> Iterator:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        yield row_format.writer(fh)


class _Columns:
    """Rows gathered by column, then made one ``astropy.table.Table``."""

    def __init__(self, row_format: RowFormat, as_bytes: bool):
        self.format = row_format
        self.as_bytes = as_bytes
        self.text: dict[str, list[str]] = {c: [] for c in row_format.inputs + ("status",
                                                                                "reason")}
        self.ranks: list[int] = []
        self.scores: dict[str, list[float]] = {c: [] for c in row_format.scores}

    def write(self, row: ScoreRow) -> None:
        for c in self.format.inputs:
            self.text[c].append(row.inputs[c])
        self.text["status"].append(row.status)
        self.text["reason"].append(row.reason)
        self.ranks.append(row.rank or 0)
        for c in self.format.scores:
            value = row.scores.get(c, math.nan)
            self.scores[c].append(value)

    def _strings(self, cells: list[str]) -> np.ndarray:
        if self.as_bytes:
            raw = [c.encode("utf-8") for c in cells]
            return np.array(raw, dtype=f"S{max([1] + [len(c) for c in raw])}")
        return np.array(cells, dtype=f"U{max([1] + [len(c) for c in cells])}")

    def table(self):
        from astropy.table import MaskedColumn, Table
        table = Table()
        for c in self.format.columns:
            if c in self.text:
                table[c] = self._strings(self.text[c])
            elif c == RANK_COLUMN:
                ranks = np.array(self.ranks, np.int64)
                table[c] = MaskedColumn(ranks, mask=ranks == 0)
            else:
                table[c] = np.array(self.scores[c], np.float64)
        return table


def _parquet(table, path: Path) -> None:
    """``table`` as Parquet with masked cells as nulls (astropy would add ``<name>.mask``
    columns that other Parquet readers do not know)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    arrays = {name: pa.array(np.asarray(col), mask=np.ma.getmaskarray(col)
                             if hasattr(col, "mask") else None)
              for name, col in table.columns.items()}
    pq.write_table(pa.table(arrays), path)


def _astropy(fmt: str) -> Callable:
    def save(table, path: Path) -> None:
        table.write(path, format=fmt, overwrite=True)
    return save


def _table(save: Callable, *, as_bytes: bool = False) -> Callable:
    @contextlib.contextmanager
    def write(path: Path, row_format: RowFormat) -> Iterator:
        columns = _Columns(row_format, as_bytes)
        yield columns
        save(columns.table(), path)
    return write


#: output suffix -> ``(path, RowFormat) -> context manager yielding an object with .write(row)``
OUTPUT_FORMATS: dict[str, Callable] = {
    ".csv": _csv,
    ".fits": _table(_astropy("fits"), as_bytes=True),
    ".ecsv": _table(_astropy("ascii.ecsv")),
    ".parquet": _table(_parquet),
}
#: suffix -> the module it needs, and the extra that installs it
NEEDS = {".parquet": ("pyarrow", "parquet")}


def check_output(out: Path) -> str:
    """The key of :data:`OUTPUT_FORMATS` for ``out``; refuses an unknown or unusable suffix."""
    suffix = out.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ConfigError(f"--out = {str(out)!r} is invalid: expected a file name ending in "
                          f"{', '.join(OUTPUT_FORMATS)}")
    module, extra = NEEDS.get(suffix, (None, None))
    if module is not None and importlib.util.find_spec(module) is None:
        raise ConfigError(f"--out = {str(out)!r} needs the {module} package, which is not "
                          f"installed: pip install 'lensfind[{extra}]', or expected a file name "
                          f"ending in {', '.join(s for s in OUTPUT_FORMATS if s not in NEEDS)}")
    return suffix


def open_output(path: Path, suffix: str, row_format: RowFormat):
    """A context manager yielding a writer of ``row_format`` rows into ``path`` (``suffix``
    chooses the format: the final name's, as ``path`` may be a temporary one)."""
    return OUTPUT_FORMATS[suffix](path, row_format)
