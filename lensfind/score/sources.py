"""Where a row's cutout comes from: a file, a stack, or survey tiles (:func:`open_source`).

A source turns rows of a checked list into cutouts in two steps:

* :meth:`Source.locate` -- in the calling thread, for a whole chunk: what each row points at (a stack
  index, a tile and pixel), or the :class:`~lensfind.score.reader.CutoutError` of a row whose
  cells say nothing usable (the WCS is not thread-safe, so positions are computed here);
* :meth:`Source.load` -- one row's ``(image, note)``, or ``load_chunk`` for the whole chunk at
  once where a source reads faster that way (a stack: one slice per run of consecutive indices).

The list-level problems of a row (:func:`~lensfind.score.reader.row_problem`) are checked
before, by :class:`~lensfind.score.prefetch.CutoutLoader`. A source is opened before any model
is loaded (a missing stack or tile is refused at once) and then fitted to the models' cutout
size (:meth:`Source.fit`; a stack of another size is refused there).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.score.cutouts import SurveyTiles, parse_radec, read_tile_list
from lensfind.score.reader import CandidateList, CutoutError, Row, conform, load_cutout
from lensfind.score.stacks import check_shape, open_stack, parse_index, split_spec


class Source:
    """What every source holds: its list, the crop/pad ``tolerance`` and, once :meth:`fit`,
    the models' cutout ``shape`` (H, W)."""

    def __init__(self, cands: CandidateList, tolerance: float):
        self.cands, self.tolerance = cands, tolerance
        self.shape: tuple[int, int] | None = None

    def fit(self, shape: tuple[int, int]) -> Source:
        """Read cutouts for models of ``shape`` from now on."""
        self.shape = (int(shape[0]), int(shape[1]))
        return self

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
        """Row index -> what the row points at, or its ``CutoutError`` (nothing, for files)."""
        return {}

    def load(self, row: Row, where: Any) -> tuple[np.ndarray, str]:
        """One row's ``(image (H, W) float32, note)``; raises ``CutoutError``."""
        raise NotImplementedError

    def fingerprint(self) -> Any:
        """What identifies the input for resume (None: the list names the files)."""
        return None

    def close(self) -> None:
        pass


class FileSource(Source):
    """One cutout file per row, named in the ``path`` column (relative to the list's folder)."""

    def load(self, row: Row, where: Any) -> tuple[np.ndarray, str]:
        return load_cutout(self.cands.base_dir, self.cands.cell(row, self.cands.path_col),
                           self.shape, tolerance=self.tolerance)


class StackSource(Source):
    """Cutouts of one stack (:mod:`lensfind.score.stacks`) at each row's ``index`` cell."""

    def __init__(self, cands: CandidateList, tolerance: float, spec: str | Path):
        super().__init__(cands, tolerance)
        self.path = split_spec(spec)[0]
        self.stack = open_stack(spec)

    def fit(self, shape: tuple[int, int]) -> Source:
        check_shape(self.stack, shape, self.tolerance)
        return super().fit(shape)

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


class TileSource(Source):
    """Cutouts cut from survey tiles at each row's ``ra``/``dec`` (:mod:`.cutouts`)."""

    def __init__(self, cands: CandidateList, tolerance: float, tiles: Sequence[str | Path],
                 say: Callable[[str], None]):
        super().__init__(cands, tolerance)
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


def open_source(cands: CandidateList, tolerance: float, *,
                stack: str | Path | None = None, tiles: Sequence[str | Path] = (),
                tile_list: str | Path | None = None,
                say: Callable[[str], None] = print) -> Source:
    """The source of a run, not yet fitted (:meth:`Source.fit`): a stack, survey tiles
    (``tiles`` plus those of ``tile_list``), or the list's files. Raises
    :class:`~lensfind.score.reader.CandidateListError` when unusable."""
    tiles = list(tiles) + (read_tile_list(tile_list) if tile_list is not None else [])
    if stack is not None:
        return StackSource(cands, tolerance, stack)
    if tiles:
        return TileSource(cands, tolerance, tiles, say)
    return FileSource(cands, tolerance)
