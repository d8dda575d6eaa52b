"""Reading a chunk's cutouts while the models score the previous one.

:class:`CutoutLoader` reads one row's cutout from the run's source (:mod:`lensfind.score.sources`:
files, a stack, survey tiles) after the list-level problems of the row
(:func:`~lensfind.score.reader.row_problem`). :func:`prefetched` starts reading each chunk as
soon as the previous one is handed out, so at most two chunks of cutouts are in memory: in a
thread pool (one task per row; a stack's chunk as one task, its indices read together; what the
rows point at is located for the chunk in the calling thread, as the WCS is not thread-safe), or
in worker processes (files only: :class:`~lensfind.score.read_pool.ProcessReader`, a block of
rows per task).

Every row ends with a :data:`~lensfind.score.read_pool.RowResult` ``(image, status, reason)``:
a bad row gets its status and reason, and no exception of one row stops the run.
"""
from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from lensfind.score.read_pool import ProcessReader, RowResult
from lensfind.score.reader import CandidateList, CutoutError, Row, row_problem


class CutoutLoader:
    """Reads rows' cutouts from ``source``; list-level problems come first."""

    def __init__(self, cands: CandidateList, source):
        self.cands = cands
        self.source = source

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
        """What each row points at (see :meth:`lensfind.score.sources.FileSource.locate`)."""
        return self.source.locate(rows)

    def __call__(self, row: Row, where: Any = None) -> tuple[np.ndarray, str]:
        problem = row_problem(self.cands, row)
        if problem is not None:
            raise problem
        if isinstance(where, CutoutError):
            raise where
        try:
            return self.source.load(row, where)
        except CutoutError:
            raise
        except MemoryError:
            raise CutoutError("error", "out of memory while reading the cutout") from None
        except Exception as err:
            raise CutoutError("error", f"{type(err).__name__}: {str(err)[:200]}") from None

    def chunk(self, rows: Sequence[Row], where: dict[int, Any]) -> list[RowResult]:
        """A chunk read together (a stack's indices in one pass); a failed joint read falls
        back to row by row, so one bad row never costs the others."""
        results: list[RowResult | None] = []
        todo: list[tuple[int, Any]] = []
        for k, row in enumerate(rows):
            problem = row_problem(self.cands, row) or (
                where.get(row.index) if isinstance(where.get(row.index), CutoutError) else None)
            results.append(None if problem is None else (None, problem.status, problem.reason))
            if problem is None:
                todo.append((k, where[row.index]))
        try:
            images = self.source.load_chunk([w for _, w in todo])
        except Exception:
            return [r if r is not None else load_row(self, rows[k], where.get(rows[k].index))
                    for k, r in enumerate(results)]
        for (k, _), image in zip(todo, images):
            try:
                picture, note = self.source.conform(image)
                results[k] = (picture, "ok", note)
            except CutoutError as err:
                results[k] = (None, err.status, err.reason)
        return results  # type: ignore[return-value]

    def image(self, row: Row) -> np.ndarray:
        """The cutout of one row (read again, e.g. for the top-N grid); raises on a bad row."""
        return self(row, self.locate([row]).get(row.index))[0]


def load_row(loader: Callable, row: Row, where: Any) -> RowResult:
    """``(image, "ok", note)`` or ``(None, status, reason)``; never raises."""
    try:
        image, note = loader(row, where)
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
        where = loader.locate(rows)
        if hasattr(loader.source, "load_chunk"):
            whole = pool.submit(loader.chunk, rows, where)
            return rows, whole.result
        futures: list[Future] = [pool.submit(load_row, loader, row, where.get(row.index))
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
