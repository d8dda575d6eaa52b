"""A scores file joined by id to a truth file: the labelled set that ``lensfind evaluate`` measures.

Both files may be CSV, or FITS / ECSV / Parquet tables (:data:`TABLE_SUFFIXES`, read through
``astropy.table``; ``lensfind score`` writes all four); a table's cells are read as text, a
masked cell as empty.

Scores: a CSV written by ``lensfind score`` (any CSV with an id column, a ``status`` column and
numeric score columns works): the committee's ``p_lens``, a regression member's
``<member>_<param>``, ``<member>_<param>_sigma`` and ``<member>_cov_<a>_<b>``. Rows whose
``status`` is not ``ok`` (and rows with an empty score) are *not scored*: they are counted and
listed, never used and never dropped silently.

Truth: a CSV with one row per candidate; the columns have these roles (:data:`ROLES`), found by
name or renamed with ``columns={"label": "is_lens", ...}``:

* ``id`` (required): matches the scores' id column; every truth id must be in the scores and
  every scored id in the truth.
* ``label``: 1 = lens, 0 = non-lens (also ``true``/``false``, ``yes``/``no``).
* ``kind``: what a non-lens (or lens) is, e.g. ``ring``, ``spiral``; ``morphology``: a lens's
  image configuration, e.g. ``ring``, ``arc``, ``double``, ``quad``; ``grade``: a human grade.
* any other column: a number per row (empty = not applicable), e.g. the lens parameters
  ``theta_e, e1, ...`` (:data:`lensfind.sim.params.REGRESSION_TARGETS`) or ``snr`` for recall
  bins. A cell that is not a number is refused when the column is used.

Every refusal is a :class:`TruthError` naming the file, the column and the line (CSV) or row
(tables, counted from 1).
"""
from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

#: truth column roles with a meaning of their own (any other name is a numeric column)
ROLES = ("id", "label", "kind", "morphology", "grade")
LABEL_TEXT = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "lens": 1,
              "nonlens": 0, "non-lens": 0}
OK = "ok"


class TruthError(ValueError):
    """The scores or truth file cannot be evaluated; the message names file, column and line."""


@dataclasses.dataclass(frozen=True)
class Table:
    """A scores or truth file read as text: ``columns`` and ``rows`` (lists of cells),
    ``lines`` (where each row is, for messages: ``"line 5"`` of a CSV whose header is line 1,
    ``"row 4"`` of a FITS/ECSV/Parquet table)."""

    path: Path
    columns: tuple[str, ...]
    rows: list[list[str]]
    lines: list[str]

    def column(self, name: str) -> list[str]:
        at = self.columns.index(name)
        return [r[at] if at < len(r) else "" for r in self.rows]


#: suffix -> astropy.table format of the table files read besides CSV
TABLE_SUFFIXES = {".fits": "fits", ".fit": "fits", ".ecsv": "ascii.ecsv", ".parquet": "parquet"}


def _cell(value) -> str:
    if value is None or value is np.ma.masked:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (float, np.floating)):
        return "" if math.isnan(value) else repr(float(value))
    return str(value).strip()


def _read_astropy(path: Path, what: str) -> Table:
    from astropy.table import Table as AstropyTable
    try:
        table = AstropyTable.read(path, format=TABLE_SUFFIXES[path.suffix.lower()])
    except ImportError as exc:   # parquet without pyarrow
        raise TruthError(f"{path}: cannot read this {what} table ({exc}); pip install "
                         "'lensfind[parquet]' for .parquet") from None
    except Exception as exc:  # noqa: BLE001 -- any reader failure is one message
        raise TruthError(f"{path}: cannot read this {what} table as "
                         f"{TABLE_SUFFIXES[path.suffix.lower()]}: {exc}") from None
    columns = tuple(table.colnames)
    rows = [[_cell(row[c]) for c in columns] for row in table]
    return Table(path, columns, rows, [f"row {i + 1}" for i in range(len(rows))])


def read_table(path: str | Path, what: str) -> Table:
    """Read a UTF-8 CSV with a header, or a FITS/ECSV/Parquet table (:data:`TABLE_SUFFIXES`);
    refuses a missing or empty file and ragged rows."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what} file (expected a CSV with a header, "
                                f"or a {'/'.join(sorted(TABLE_SUFFIXES))} table)")
    if path.suffix.lower() in TABLE_SUFFIXES:
        return _read_astropy(path, what)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header:
            raise TruthError(f"{path}: empty {what} file: expected a CSV header line")
        rows, lines = [], []
        for cells in reader:
            if not cells:
                continue
            if len(cells) != len(header):
                raise TruthError(f"{path}, line {reader.line_num}: {len(cells)} cells; expected "
                                 f"{len(header)} ({', '.join(header)})")
            rows.append(cells)
            lines.append(f"line {reader.line_num}")
    return Table(path, tuple(h.strip() for h in header), rows, lines)


def parse_columns(items: Sequence[str]) -> dict[str, str]:
    """``["label=is_lens", ...]`` -> ``{"label": "is_lens"}`` (role or lensfind name -> truth
    column)."""
    out: dict[str, str] = {}
    for item in items:
        role, sep, name = item.partition("=")
        if not sep or not role.strip() or not name.strip():
            raise TruthError(f"--column {item!r} is invalid: expected NAME=TRUTH_COLUMN, e.g. "
                             "label=is_lens or theta_e=theta_E")
        out[role.strip()] = name.strip()
    return out


def _number(table: Table, column: str, text: str, line: str) -> float:
    text = text.strip()
    if text == "" or text.lower() == "nan":
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise TruthError(f"{table.path}, {line}, column {column!r}: {text!r} is not a "
                         "number (expected a number, or an empty cell where it does not "
                         "apply)") from None


@dataclasses.dataclass
class LabelledSet:
    """The scored rows of a scores file with their truth, in the scores' order.

    Attributes:
        ids: (N,) the scored ids.
        scores: score column -> float (N,) (NaN: empty cell).
        truth: the truth file; ``rows``: index of each scored id's truth row.
        names: role or lensfind name -> the truth column that holds it.
        not_scored: ``[(id, status, reason)]`` of the rows left out.
        scores_path: the scores file.
    """

    ids: np.ndarray
    scores: dict[str, np.ndarray]
    truth: Table
    rows: np.ndarray
    names: dict[str, str]
    not_scored: list[tuple[str, str, str]]
    scores_path: Path

    def __len__(self) -> int:
        return len(self.ids)

    def has(self, name: str) -> bool:
        return self.names.get(name, name) in self.truth.columns

    def text(self, name: str) -> np.ndarray:
        """The truth column playing ``name`` as text, per scored row."""
        cells = self.truth.column(self.names.get(name, name))
        return np.array([cells[i].strip() for i in self.rows], dtype=object)

    def numbers(self, name: str) -> np.ndarray:
        """The truth column playing ``name`` as float (N,); refuses a cell that is not a number."""
        column = self.names.get(name, name)
        if column not in self.truth.columns:
            raise TruthError(f"{self.truth.path}: no column {column!r} (columns: "
                             f"{', '.join(self.truth.columns)})")
        cells = self.truth.column(column)
        return np.array([_number(self.truth, column, cells[i], self.truth.lines[i])
                         for i in self.rows], np.float64)

    def labels(self) -> np.ndarray:
        """``label`` as 0/1 integers; refuses anything else, naming the line."""
        column = self.names.get("label", "label")
        cells = self.truth.column(column)
        out = np.empty(len(self.rows), np.int64)
        for j, i in enumerate(self.rows):
            value = LABEL_TEXT.get(cells[i].strip().lower())
            if value is None:
                raise TruthError(f"{self.truth.path}, {self.truth.lines[i]}, column "
                                 f"{column!r}: {cells[i]!r} is not a label (expected 1 or 0, "
                                 "true/false, yes/no)")
            out[j] = value
        return out


def join(scores_path: str | Path, truth_path: str | Path, *,
         columns: Mapping[str, str] | None = None, id_column: str = "id",
         required: Sequence[str] = ()) -> LabelledSet:
    """Join a scores file and a truth file by id (see the module docstring).

    Args:
        columns: role or lensfind name -> truth column (default: the same name).
        id_column: the scores file's id column.
        required: score columns that must be present and non-empty for a row to count as scored.
    """
    names = dict(columns or {})
    scores = read_table(scores_path, "scores")
    truth = read_table(truth_path, "truth")
    for role, column in names.items():
        if column not in truth.columns:
            raise TruthError(f"--column {role}={column}: {truth.path} has no column {column!r} "
                             f"(columns: {', '.join(truth.columns)})")
    truth_id = names.get("id", "id")
    if truth_id not in truth.columns:
        raise TruthError(f"{truth.path}: no id column {truth_id!r} (columns: "
                         f"{', '.join(truth.columns)}); name it with --column id=NAME")
    if id_column not in scores.columns:
        raise TruthError(f"{scores.path}: no id column {id_column!r} (columns: "
                         f"{', '.join(scores.columns)}); name it with --id-column")
    missing = [c for c in required if c not in scores.columns]
    if missing:
        raise TruthError(f"{scores.path}: no score column(s) {', '.join(missing)}")
    where: dict[str, int] = {}
    for i, ident in enumerate(truth.column(truth_id)):
        ident = ident.strip()
        if not ident:
            raise TruthError(f"{truth.path}, {truth.lines[i]}, column {truth_id!r}: "
                             "empty id")
        if ident in where:
            raise TruthError(f"{truth.path}, {truth.lines[i]}, column {truth_id!r}: id "
                             f"{ident!r} repeats {truth.lines[where[ident]]}")
        where[ident] = i
    status = scores.column("status") if "status" in scores.columns else [OK] * len(scores.rows)
    reason = scores.column("reason") if "reason" in scores.columns else [""] * len(scores.rows)
    score_ids = scores.column(id_column)
    number_columns = [c for c in scores.columns if c not in (id_column, "status", "reason")]
    kept, not_scored, seen = [], [], set()
    for k, ident in enumerate(score_ids):
        ident = ident.strip()
        if ident not in where:
            if status[k] != OK:   # e.g. an empty id: listed, nothing to match
                not_scored.append((ident, status[k], reason[k]))
                continue
            raise TruthError(f"{scores.path}, {scores.lines[k]}, column {id_column!r}: id "
                             f"{ident!r} is not in the truth file {truth.path}")
        if status[k] != OK:
            not_scored.append((ident, status[k], reason[k]))
            continue
        empty = [c for c in required if not scores.rows[k][scores.columns.index(c)].strip()]
        if empty:
            not_scored.append((ident, "no_score", f"empty {', '.join(empty)}"))
            continue
        kept.append(k)
        seen.add(ident)
    listed = {n[0] for n in not_scored}
    absent = [i for ident, i in where.items() if ident not in seen and ident not in listed]
    if absent:
        first = min(absent)
        raise TruthError(f"{truth.path}, {truth.lines[first]}: id "
                         f"{truth.column(truth_id)[first].strip()!r} is not in the scores file "
                         f"{scores.path} ({len(absent)} truth id(s) missing from it)")
    values: dict[str, np.ndarray] = {}
    for c in number_columns:
        at = scores.columns.index(c)
        try:
            values[c] = np.array([float(scores.rows[k][at]) if scores.rows[k][at].strip()
                                  else math.nan for k in kept], np.float64)
        except ValueError:
            continue   # a passed-through text column of the candidate list
    return LabelledSet(ids=np.array([score_ids[k].strip() for k in kept], dtype=object),
                       scores=values, truth=truth,
                       rows=np.array([where[score_ids[k].strip()] for k in kept], np.int64),
                       names=names, not_scored=not_scored, scores_path=scores.path)
