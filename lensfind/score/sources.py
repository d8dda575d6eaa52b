"""Where a row's cutout comes from: a file, a stack, or survey tiles (:data:`SOURCES`).

A source turns rows of a checked list into cutouts in two steps:

* :meth:`locate` -- in the calling thread, for a whole chunk: what each row points at (a stack
  index, a tile and pixel), or the :class:`~lensfind.score.reader.CutoutError` of a row whose
  cells say nothing usable (the WCS is not thread-safe, so positions are computed here);
* :meth:`load` -- one row's ``(image, note)``, or :meth:`load_chunk` for the whole chunk at once
  where a source reads faster that way (a stack: one slice per run of consecutive indices).

The list-level problems of a row (:func:`~lensfind.score.reader.row_problem`) are checked
before, by :class:`~lensfind.score.prefetch.CutoutLoader`.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.score.cutouts import SurveyTiles, parse_radec, read_tile_list
from lensfind.score.reader import CandidateList, CutoutError, Row, conform, load_cutout
from lensfind.score.stacks import open_stack, parse_index, split_spec


class FileSource:
    """One cutout file per row, named in the ``path`` column (relative to the list's folder)."""

    name = "files"

    def __init__(self, cands: CandidateList, shape: tuple[int, int], tolerance: float):
        self.cands, self.shape, self.tolerance = cands, shape, tolerance

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
        return {}

    def load(self, row: Row, where: Any) -> tuple[np.ndarray, str]:
        return load_cutout(self.cands.base_dir, self.cands.cell(row, self.cands.path_col),
                           self.shape, tolerance=self.tolerance)

    def fingerprint(self) -> Any:
        return None

    def close(self) -> None:
        pass


class StackSource:
    """Cutouts of one stack (:mod:`lensfind.score.stacks`) at each row's ``index`` cell."""

    name = "stack"

    def __init__(self, cands: CandidateList, shape: tuple[int, int], tolerance: float,
                 spec: str | Path):
        self.cands, self.shape, self.tolerance = cands, shape, tolerance
        self.path = split_spec(spec)[0]
        self.stack = open_stack(spec, shape, tolerance)

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for row in rows:
            try:
                out[row.index] = parse_index(self.cands.cell(row, self.cands.index_col),
                                             len(self.stack))
            except CutoutError as err:
                out[row.index] = err
        return out

    def load(self, row: Row, where: int) -> tuple[np.ndarray, str]:
        return conform(self.stack.read(np.array([where]))[0], self.shape,
                       tolerance=self.tolerance)

    def load_chunk(self, indices: Sequence[int]) -> list[np.ndarray]:
        """The raw cutouts at ``indices`` (read together); conformed by the caller."""
        return self.stack.read(np.asarray(indices, np.int64))

    def fingerprint(self) -> Any:
        st = self.path.stat()
        return {"stack": self.stack.label, "path": str(self.path.resolve()),
                "size": st.st_size, "mtime_ns": st.st_mtime_ns, "n": len(self.stack)}

    def close(self) -> None:
        self.stack.close()


class TileSource:
    """Cutouts cut from survey tiles at each row's ``ra``/``dec`` (:mod:`.cutouts`)."""

    name = "tiles"

    def __init__(self, cands: CandidateList, shape: tuple[int, int], tolerance: float,
                 tiles: Sequence[str | Path], say: Callable[[str], None]):
        self.cands, self.shape, self.tolerance = cands, shape, tolerance
        self.tiles = SurveyTiles(tiles, say)

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
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
            found = self.tiles.locate(np.array(ras), np.array(decs), self.shape)
            out.update(zip(good, found))
        return out

    def load(self, row: Row, where: tuple[int, float, float]) -> tuple[np.ndarray, str]:
        return conform(self.tiles.cut(where, self.shape), self.shape, tolerance=self.tolerance)

    def fingerprint(self) -> Any:
        return self.tiles.fingerprint()

    def close(self) -> None:
        self.tiles.close()


def open_source(cands: CandidateList, shape: tuple[int, int], tolerance: float, *,
                stack: str | Path | None = None, tiles: Sequence[str | Path] = (),
                tile_list: str | Path | None = None,
                say: Callable[[str], None] = print):
    """The source of a run: a stack, survey tiles (``tiles`` plus those of ``tile_list``), or
    the list's files. Raises :class:`~lensfind.score.reader.CandidateListError` when unusable."""
    tiles = list(tiles) + (read_tile_list(tile_list) if tile_list is not None else [])
    if stack is not None:
        return StackSource(cands, shape, tolerance, stack)
    if tiles:
        return TileSource(cands, shape, tolerance, tiles, say)
    return FileSource(cands, shape, tolerance)
