"""Reading a chunk's cutouts while the models score the previous one.

:class:`CutoutLoader` reads one row's cutout: a file (:func:`~lensfind.score.reader.load_cutout`)
or a cut from a survey image (:mod:`lensfind.score.cutouts`), after the list-level problems of
the row (:func:`~lensfind.score.reader.row_problem`). :func:`prefetched` starts reading each chunk
as soon as the previous one is handed out, so at most two chunks of cutouts are in memory: in a
thread pool (one task per row; survey positions are computed for the chunk in the calling
thread, as the WCS is not thread-safe), or in worker processes
(:class:`~lensfind.score.read_pool.ProcessReader`, a block of rows per task).

Every row ends with a :data:`~lensfind.score.read_pool.RowResult` ``(image, status, reason)``:
a bad row gets its status and reason, and no exception of one row stops the run.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from lensfind.score.cutouts import parse_radec
from lensfind.score.read_pool import ProcessReader, RowResult
from lensfind.score.reader import (
    CandidateList,
    CutoutError,
    Row,
    conform,
    load_cutout,
    row_problem,
)


class CutoutLoader:
    """Reads one row's cutout (file or survey image); list-level problems come first."""
    def __init__(self, cands: CandidateList, shape: tuple[int, int], tolerance: float,
                 survey=None):
        self.cands = cands
        self.shape = shape
        self.tolerance = tolerance
        self.survey = survey

    def positions(self, rows: Sequence[Row]) -> dict[int, Any]:
        """Survey mode: pixel positions of a chunk's rows (WCS used from one thread only)."""
        out: dict[int, Any] = {}
        good, ras, decs = [], [], []
        for row in rows:
            try:
                ra, dec = parse_radec(self.cands.cell(row, self.cands.ra_col),
                                      self.cands.cell(row, self.cands.dec_col))
            except CutoutError as err:
                out[row.index] = err
                continue
            good.append(row.index)
            ras.append(ra)
            decs.append(dec)
        if good:
            x, y = self.survey.pixel_positions(np.array(ras), np.array(decs))
            out.update({i: (float(a), float(b)) for i, a, b in zip(good, x, y)})
        return out

    def __call__(self, row: Row, position: Any = None) -> tuple[np.ndarray, str]:
        problem = row_problem(self.cands, row)
        if problem is not None:
            raise problem
        if self.survey is None:
            return load_cutout(self.cands.base_dir, self.cands.cell(row, self.cands.path_col),
                               self.shape, tolerance=self.tolerance)
        if isinstance(position, CutoutError):
            raise position
        try:
            return conform(self.survey.cut(position[0], position[1], self.shape), self.shape,
                           tolerance=self.tolerance)
        except CutoutError:
            raise
        except Exception as err:
            raise CutoutError("error", f"{type(err).__name__}: {str(err)[:200]}") from None

    def image(self, row: Row) -> np.ndarray:
        """The cutout of one row (read again, e.g. for the top-N grid); raises on a bad row."""
        position = self.positions([row]).get(row.index) if self.survey is not None else None
        return self(row, position)[0]


def load_row(loader: CutoutLoader, row: Row, position: Any) -> RowResult:
    """``(image, "ok", note)`` or ``(None, status, reason)``; never raises."""
    try:
        image, note = loader(row, position)
        return image, "ok", note
    except CutoutError as err:
        return None, err.status, err.reason
    except Exception as err:  # never let one row stop the run
        return None, "error", f"{type(err).__name__}: {str(err)[:200]}"


#: waits for a chunk's reads and returns one result per row, in order
Fetch = Callable[[], list[RowResult]]


def submit(pool: ThreadPoolExecutor, processes: ProcessReader | None, loader: CutoutLoader,
           rows: list[Row]) -> tuple[list[Row], Fetch]:
    """Start reading ``rows``; returns them with a function that waits for their results."""
    if processes is None:
        positions = loader.positions(rows) if loader.survey is not None else {}
        futures: list[Future] = [pool.submit(load_row, loader, row, positions.get(row.index))
                                 for row in rows]
        return rows, lambda: [f.result() for f in futures]
    results: list[RowResult | None] = [None] * len(rows)
    todo, paths = [], []
    for k, row in enumerate(rows):
        problem = row_problem(loader.cands, row)
        if problem is not None:
            results[k] = (None, problem.status, problem.reason)
        else:
            todo.append(k)
            paths.append(loader.cands.cell(row, loader.cands.path_col))
    blocks = processes.submit(paths)

    def fetch() -> list[RowResult]:
        for k, result in zip(todo, processes.results(blocks)):
            results[k] = result
        return results  # type: ignore[return-value]
    return rows, fetch


def prefetched(chunks: Iterator[list[Row]], pool: ThreadPoolExecutor,
               processes: ProcessReader | None,
               loader: CutoutLoader) -> Iterator[tuple[list[Row], Fetch]]:
    """Chunks with their reads already under way; the next chunk is read while one is used."""
    queue: collections.deque = collections.deque()
    for rows in chunks:
        queue.append(submit(pool, processes, loader, rows))
        if len(queue) > 1:
            yield queue.popleft()
    while queue:
        yield queue.popleft()
