"""One row of a scores file, and the one place that turns it into CSV cells and back.

A scores file has, per candidate, the list's own cells (every input column, passed through), a
``status`` and a ``reason`` (:data:`~lensfind.score.reader.STATUSES`), in the final file a
``rank`` when the run has classifiers, and the score columns of the committee
(:meth:`~lensfind.score.committee.Committee.columns`)::

    <input columns...>, status, reason, [rank,] <score columns...>

Input columns keep their names unless one clashes (case-insensitively) with a column of ours or
an earlier input column; it is then written as ``input_<name>``. A :class:`ScoreRow` holds the
cells by those names, and :class:`RowFormat` is the only code that knows where each one sits in a
CSV line: the journal (``OUT.partial``, no rank) and the final file use it to write and to read
rows, and the ranking pass and the reports look cells up by column name.

Scores are written with 6 significant digits (``format(x, ".6g")``); a missing or non-finite
score is an empty cell, read back as NaN. Reading a cell and writing it again gives the same
text, so a row passes through the journal and the final pass unchanged.
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from lensfind.files import fmt

STATUS_COLUMNS = ("status", "reason")
RANK_COLUMN = "rank"
#: how scores are written (6 significant digits; missing and non-finite: empty)
SCORE_SPEC = ".6g"


@dataclasses.dataclass
class ScoreRow:
    """One candidate's output.

    Attributes:
        inputs: input column (as written, see :meth:`RowFormat.for_list`) -> the list's cell
            (``""`` for cells a malformed row lacks).
        status: a key of :data:`~lensfind.score.reader.STATUSES`.
        reason: why a row was not scored, or a note on a scored one (e.g. centre-cropped).
        scores: score column -> value; a column that is absent or NaN has no value (an
            empty cell), as for a row that was not scored.
        rank: 1 = most lens-like; ``None`` while unranked and for rows without a rank.
    """

    inputs: dict[str, str]
    status: str
    reason: str
    scores: dict[str, float]
    rank: int | None = None


@dataclasses.dataclass(frozen=True)
class RowFormat:
    """The columns of one scores file and the conversion of its rows to and from CSV cells.

    Attributes:
        inputs: the input columns as written (clashes renamed ``input_<name>``).
        scores: the score columns, in order.
        rank: whether the file has the ``rank`` column (the final file of a run with
            classifiers; never the journal).
    """

    inputs: tuple[str, ...]
    scores: tuple[str, ...]
    rank: bool = False

    @classmethod
    def for_list(cls, list_columns: Sequence[str], score_columns: Sequence[str], *,
                 rank: bool) -> RowFormat:
        """The format for a candidate list's header; clashing input names get ``input_``."""
        ours = list(STATUS_COLUMNS) + ([RANK_COLUMN] if rank else []) + list(score_columns)
        taken = {c.lower() for c in ours}
        inputs = []
        for c in list_columns:
            name = c
            while name.lower() in taken:
                name = f"input_{name}"
            taken.add(name.lower())
            inputs.append(name)
        return cls(tuple(inputs), tuple(score_columns), rank)

    def without_rank(self) -> RowFormat:
        """The same columns without ``rank`` (the journal's format)."""
        return dataclasses.replace(self, rank=False)

    @functools.cached_property
    def columns(self) -> tuple[str, ...]:
        """The header."""
        return (self.inputs + STATUS_COLUMNS + ((RANK_COLUMN,) if self.rank else ())
                + self.scores)

    # ----------------------------------------------------------------------- rows <-> cells

    def inputs_of(self, cells: Sequence[str]) -> dict[str, str]:
        """A list row's cells by input column (surplus cells dropped, missing ones empty)."""
        n = len(self.inputs)
        cells = list(cells[:n]) + [""] * max(0, n - len(cells))
        return dict(zip(self.inputs, cells))

    def input_cells(self, row: ScoreRow) -> tuple[str, ...]:
        """A row's input cells in the list's column order."""
        return tuple(row.inputs[c] for c in self.inputs)

    def cells(self, row: ScoreRow) -> list[str]:
        """The CSV cells of ``row`` in this format's column order."""
        out = list(self.input_cells(row)) + [row.status, row.reason]
        if self.rank:
            out.append("" if row.rank is None else str(row.rank))
        out += [fmt(row.scores.get(c), SCORE_SPEC, "") for c in self.scores]
        return out

    def row(self, cells: Sequence[str]) -> ScoreRow:
        """The row written as ``cells`` (a line of a file in this format)."""
        if len(cells) != len(self.columns):
            raise ValueError(f"a scores row has {len(cells)} cells; expected "
                             f"{len(self.columns)} ({', '.join(self.columns)})")
        n = len(self.inputs)
        rank = cells[n + 2] if self.rank else ""
        first_score = n + 3 if self.rank else n + 2
        return ScoreRow(inputs=dict(zip(self.inputs, cells)),
                        status=cells[n], reason=cells[n + 1],
                        scores={c: float(t) if t else math.nan
                                for c, t in zip(self.scores, cells[first_score:])},
                        rank=int(rank) if rank else None)

    # ------------------------------------------------------------------------------- text

    def header_text(self) -> str:
        """The header line as CSV text."""
        return _csv_text([self.columns])

    def text(self, rows: Iterable[ScoreRow]) -> str:
        """CSV text (``\\n`` line ends) of ``rows``, no header."""
        return _csv_text(self.cells(r) for r in rows)

    def writer(self, fh) -> RowWriter:
        """Writes the header, then rows, to the text file ``fh`` (opened with ``newline=""``)."""
        return RowWriter(self, fh)

    def read(self, path: Path) -> Iterator[ScoreRow]:
        """The rows of a file in this format (its header line is skipped)."""
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            for cells in reader:
                yield self.row(cells)

    def read_columns(self, path: Path, names: Sequence[str]) -> Iterator[tuple[str, ...]]:
        """The text of the named columns of each row of a file in this format (a pass that
        needs a few columns of many rows, without making whole rows)."""
        at = [self.columns.index(name) for name in names]
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader)
            for cells in reader:
                yield tuple(cells[i] for i in at)


def _csv_text(lines: Iterable[Sequence[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(lines)
    return buf.getvalue()


class RowWriter:
    """Streams rows of one format into a text file: header first (see :meth:`RowFormat.writer`)."""

    def __init__(self, row_format: RowFormat, fh):
        self.format = row_format
        self._csv = csv.writer(fh, lineterminator="\n")
        self._csv.writerow(row_format.columns)

    def write(self, row: ScoreRow) -> None:
        self._csv.writerow(self.format.cells(row))
