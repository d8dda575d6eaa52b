"""The final pass of a scoring run: rank the scored rows, write ``OUT``, then the reports.

When every row is in -- the journal of one run (:mod:`lensfind.score.journal`) or the shards of
a sharded one, in order (:mod:`lensfind.score.shards`) -- :func:`finish` reads them twice,
streaming (no row is held, except the top N, and all rows for a table output):

1. the ``p_lens`` of every ``ok`` row, to rank them (:func:`ranks`): 1 = most lens-like, ties
   keep the list's order, rows without a finite ``p_lens`` get no rank. Runs without a
   classifier have nothing to rank by and no ``rank`` column.
2. every row again, with its rank, into ``OUT`` in the format of its suffix
   (:mod:`lensfind.score.outputs`; a temporary file renamed over it once complete and flushed to
   disk: :func:`lensfind.files.atomic_path`), feeding the grade table and keeping the top N for
   the grid (:mod:`lensfind.score.report`).
"""
from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lensfind.files import atomic_path
from lensfind.score.outputs import open_output
from lensfind.score.prefetch import CutoutLoader
from lensfind.score.reader import Row
from lensfind.score.report import GradeAccumulator, plot_top
from lensfind.score.rows import RowFormat, ScoreRow

#: the score the rows are ranked by
RANK_BY = "p_lens"


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank of each score, 1 = highest (ties: the earlier row first); 0 for NaN."""
    valid = np.flatnonzero(np.isfinite(scores))
    order = valid[np.argsort(-scores[valid], kind="stable")]
    out = np.zeros(len(scores), dtype=np.int64)
    out[order] = np.arange(1, len(order) + 1)
    return out


def _rank_scores(rows) -> np.ndarray:
    """``p_lens`` of each ``ok`` row, NaN for the others (8 bytes a row)."""
    scores = array("d")
    for status, text in rows.read_columns(("status", RANK_BY)):
        scores.append(float(text) if status == "ok" and text else math.nan)
    return np.frombuffer(scores, dtype=np.float64)


def finish(out: Path, rows, final: RowFormat, cands, labels: Sequence[str],
           loader: CutoutLoader, top: int, suffix: str = ".csv") -> dict[str, Path]:
    """Rank the rows by ``p_lens``, write ``out``; then the grade table and the grid.

    ``rows``: the unranked rows in list order, as a :class:`~lensfind.score.journal.Journal`
    (``rows()`` and ``read_columns(names)``); ``final``: the output format (``final.rank``:
    whether the run is ranked); ``labels``: the classifier members' labels (grade table);
    ``top``: cutouts in the grid; ``suffix``: the output format
    (:data:`~lensfind.score.outputs.OUTPUT_FORMATS`). Returns the reports written.
    """
    row_ranks = ranks(_rank_scores(rows)) if final.rank else None
    grade_column = final.inputs[cands.grade_col] if cands.grade_col is not None else None
    grades = GradeAccumulator(labels, grade_column) \
        if grade_column is not None and final.rank else None
    best: list[tuple[int, ScoreRow]] = []
    with atomic_path(out, fsync=True) as tmp, open_output(tmp, suffix, final) as writer:
        for i, row in enumerate(rows.rows()):
            if row_ranks is not None:
                r = int(row_ranks[i])
                row.rank = r or None
                if 0 < r <= top:
                    best.append((r, row))
            if grades is not None:
                grades.add(row)
            writer.write(row)
    reports: dict[str, Path] = {}
    if grades is not None:
        reports.update(grades.write(out))
    if best:
        best.sort(key=lambda t: t[0])

        def image(row: ScoreRow) -> np.ndarray:
            return loader.image(Row(index=-1, line=0, cells=final.input_cells(row)))
        path = plot_top(best, image, out.with_name(out.stem + ".top.png"),
                               id_column=final.inputs[cands.id_col], grade_column=grade_column)
        if path is not None:
            reports["top-N grid"] = path
    return reports
