"""Where a row's cutout comes from: a file, a stack, or survey tiles (:func:`open_source`).

For models of several bands a row gives every band: a cube file or one file per band, an
``N x H x W x C`` stack, or tiles per band (:mod:`lensfind.score.bands`).

A source turns rows of a checked list into cutouts in two steps:

* :meth:`Source.locate` -- in the calling thread, for a whole chunk: what each row points at (a
  stack index, a tile and pixel), or the :class:`~lensfind.score.reader.CutoutError` of a row whose
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

from lensfind.score.bands import (
    check_pixel_scales,
    conform_bands,
    load_band_files,
    load_cube,
    split_band_tiles,
)
from lensfind.score.cutouts import SurveyTiles, parse_radec, read_tile_list
from lensfind.score.reader import CandidateList, CutoutError, Row, conform, load_cutout
from lensfind.score.stacks import check_shape, open_stack, parse_index, split_spec


class Source:
    """What every source holds: its list, the crop/pad ``tolerance``, the models' ``bands``
    (``()``: one band) and, once :meth:`fit`, the models' cutout ``shape`` (H, W)."""

    def __init__(self, cands: CandidateList, tolerance: float, bands: Sequence[str] = ()):
        self.cands, self.tolerance, self.bands = cands, tolerance, tuple(bands)
        self.shape: tuple[int, int] | None = None

    def conform(self, image: np.ndarray) -> tuple[np.ndarray, str]:
        """A raw cutout ``(h, w)``, or ``(h, w, C)`` with bands, brought to the models' size:
        ``(image, note)``; raises ``CutoutError``."""
        if self.bands:
            return conform_bands(image, self.bands, self.shape, tolerance=self.tolerance)
        return conform(image, self.shape, tolerance=self.tolerance)

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


class CubeSource(Source):
    """Multi-band: one cube file per row, named in the ``path`` column."""

    def load(self, row: Row, where: Any) -> tuple[np.ndarray, str]:
        return self.conform(load_cube(self.cands.base_dir,
                                      self.cands.cell(row, self.cands.path_col), self.bands))


class BandFilesSource(Source):
    """Multi-band: one single-band file per band, in the ``path_<band>`` columns."""

    def load(self, row: Row, where: Any) -> tuple[np.ndarray, str]:
        cols = self.cands.band_cols or {}
        cells = {b: self.cands.cell(row, cols[b]) for b in self.bands}
        return self.conform(load_band_files(self.cands.base_dir, cells, self.bands, self.shape,
                                            self.tolerance))


class StackSource(Source):
    """Cutouts of one stack (:mod:`lensfind.score.stacks`) at each row's ``index`` cell."""

    def __init__(self, cands: CandidateList, tolerance: float, spec: str | Path,
                 bands: Sequence[str] = ()):
        super().__init__(cands, tolerance, bands)
        self.path = split_spec(spec)[0]
        self.stack = open_stack(spec, self.bands)

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
        return self.conform(self.stack.read(np.array([where]))[0])

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
        out, good, ras, decs = positions(self.cands, rows)
        if good:
            out.update(zip(good, self.tiles.locate(ras, decs, self.shape)))
        return out

    def load(self, row: Row, where: tuple[int, float, float]) -> tuple[np.ndarray, str]:
        return self.conform(self.tiles.cut(where, self.shape))

    def fingerprint(self) -> Any:
        return self.tiles.fingerprint()

    def close(self) -> None:
        self.tiles.close()


def positions(cands: CandidateList, rows: Sequence[Row]
              ) -> tuple[dict[int, Any], list[int], np.ndarray, np.ndarray]:
    """``(bad rows' CutoutError by index, good rows' indices, their ra, dec)`` in degrees."""
    out: dict[int, Any] = {}
    good, ras, decs = [], [], []
    for row in rows:
        try:
            ra, dec = parse_radec(cands.cell(row, cands.ra_col), cands.cell(row, cands.dec_col))
        except CutoutError as err:
            out[row.index] = err
            continue
        good.append(row.index)
        ras.append(ra)
        decs.append(dec)
    return out, good, np.array(ras), np.array(decs)


class BandTileSource(Source):
    """Multi-band: each band cut at the row's ``ra``/``dec`` from its own tiles (``specs``:
    ``BAND=TILE``), with its own WCS; all bands' tiles must share one pixel scale."""

    def __init__(self, cands: CandidateList, tolerance: float, specs: Sequence[str | Path],
                 bands: Sequence[str], say: Callable[[str], None]):
        super().__init__(cands, tolerance, bands)
        self.tiles: dict[str, SurveyTiles] = {}
        try:
            for band, paths in split_band_tiles(specs, self.bands).items():
                self.tiles[band] = SurveyTiles(paths, lambda text, b=band: say(f"band {b}: {text}"))
            check_pixel_scales({f"{b} {t.path.name}": t.pixel_scale
                                for b, tiles in self.tiles.items() for t in tiles.tiles})
        except Exception:
            self.close()
            raise

    def locate(self, rows: Sequence[Row]) -> dict[int, Any]:
        out, good, ras, decs = positions(self.cands, rows)
        if not good:
            return out
        found = {b: tiles.locate(ras, decs, self.shape) for b, tiles in self.tiles.items()}
        for k, index in enumerate(good):
            bad = next(((b, found[b][k]) for b in self.bands
                        if isinstance(found[b][k], CutoutError)), None)
            out[index] = ({b: found[b][k] for b in self.bands} if bad is None else
                          CutoutError(bad[1].status, f"band {bad[0]}: {bad[1].reason}"))
        return out

    def load(self, row: Row, where: dict[str, tuple[int, float, float]]
             ) -> tuple[np.ndarray, str]:
        planes = []
        for band in self.bands:
            try:
                planes.append(self.tiles[band].cut(where[band], self.shape))
            except CutoutError as err:
                tile = self.tiles[band].tiles[where[band][0]].path
                raise CutoutError(err.status, f"band {band}, tile {tile}: {err.reason}") \
                    from None
        return self.conform(np.stack(planes, axis=-1))

    def fingerprint(self) -> Any:
        return {b: tiles.fingerprint() for b, tiles in self.tiles.items()}

    def close(self) -> None:
        for tiles in self.tiles.values():
            tiles.close()


def _file_source(cands: CandidateList, tolerance: float, bands: Sequence[str]) -> Source:
    """The list's files: one per row, or for bands a cube per row or a file per band."""
    if not bands:
        return FileSource(cands, tolerance)
    kind = BandFilesSource if cands.band_cols else CubeSource
    return kind(cands, tolerance, bands)


def open_source(cands: CandidateList, tolerance: float, *,
                stack: str | Path | None = None, tiles: Sequence[str | Path] = (),
                tile_list: str | Path | None = None, bands: Sequence[str] = (),
                say: Callable[[str], None] = print) -> Source:
    """The source of a run for models of ``bands`` (``()``: one band), not yet fitted
    (:meth:`Source.fit`): a stack, survey tiles (``tiles`` plus those of ``tile_list``; with
    bands, ``BAND=TILE`` specs), or the list's files. Raises
    :class:`~lensfind.score.reader.CandidateListError` when unusable."""
    tiles = list(tiles) + (read_tile_list(tile_list, banded=bool(bands))
                           if tile_list is not None else [])
    if stack is not None:
        return StackSource(cands, tolerance, stack, bands)
    if tiles:
        return BandTileSource(cands, tolerance, tiles, bands, say) if bands else \
            TileSource(cands, tolerance, tiles, say)
    return _file_source(cands, tolerance, bands)
