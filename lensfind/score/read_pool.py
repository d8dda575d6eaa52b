"""Reading a chunk's cutout files in worker processes, a block of rows per task.

Threads read files well while the work per file is I/O, but the per-file Python work here
(header parsing, checks, crop or pad: about 100 us a file) holds the GIL, and many threads
contending for it serialise: 16 reader threads fed an H100 with about 1,600 cutouts/s, a tenth
of what the GPU scores; 14 worker processes, which share no GIL, fed it 5,200/s. Each task
reads :data:`BLOCK_ROWS` rows and sends back one stacked float32 array of the good cutouts plus
a status per row.

The pool uses the ``forkserver`` start method on Linux (``spawn`` elsewhere): never ``fork``,
which copies a process whose TensorFlow or JAX threads may hold locks. Workers import only this
module, :mod:`lensfind.score.reader` and NumPy -- and, as always with Python multiprocessing
outside ``fork``, the calling script's ``__main__`` module, which therefore needs the
``if __name__ == "__main__":`` guard.

If a task fails as a whole (a worker killed, say), its rows are read again in the calling
process, row by row, so every row still ends with an image or a status.
"""
from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from lensfind.score.reader import CutoutError, load_cutout

#: rows read by one task (a 100x100 float32 block is then 5 MB)
BLOCK_ROWS = 128

RowResult = tuple  # (image (H, W) float32 or None, status, reason or note)


def _read_block(base_dir: Path, paths: list[str], shape: tuple[int, int],
                tolerance: float) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """``(images (k, H, W) of the ok rows, [(status, reason or note)] per row)``."""
    images, statuses = [], []
    for text in paths:
        try:
            image, note = load_cutout(base_dir, text, shape, tolerance=tolerance)
        except CutoutError as err:
            statuses.append((err.status, err.reason))
            continue
        except Exception as err:  # never let one row stop the block
            statuses.append(("error", f"{type(err).__name__}: {str(err)[:200]}"))
            continue
        images.append(image)
        statuses.append(("ok", note))
    stacked = np.stack(images) if images else np.zeros((0,) + tuple(shape), np.float32)
    return stacked, statuses


def _read_rows(base_dir: Path, paths: list[str], shape: tuple[int, int],
               tolerance: float) -> list[RowResult]:
    images, statuses = _read_block(base_dir, paths, shape, tolerance)
    return _split(images, statuses)


def _split(images: np.ndarray, statuses: list[tuple[str, str]]) -> list[RowResult]:
    out, k = [], 0
    for status, text in statuses:
        if status == "ok":
            out.append((images[k], status, text))
            k += 1
        else:
            out.append((None, status, text))
    return out


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``."""
    return "forkserver" if sys.platform != "win32" else "spawn"


class ProcessReader:
    """A pool of ``processes`` workers reading the cutout files of rows given as path cells.

    Args:
        processes: worker processes.
        base_dir: the candidate list's folder (relative paths are resolved against it).
        shape: the models' ``(H, W)``.
        tolerance: the crop / pad tolerance of :func:`~lensfind.score.reader.conform`.
    """

    def __init__(self, processes: int, base_dir: Path, shape: tuple[int, int],
                 tolerance: float):
        self.base_dir, self.shape, self.tolerance = Path(base_dir), tuple(shape), tolerance
        context = multiprocessing.get_context(start_method())
        self.pool = ProcessPoolExecutor(max_workers=int(processes), mp_context=context)

    def submit(self, paths: list[str]) -> list[tuple[list[str], Future]]:
        """Start reading ``paths`` (one row each) in blocks; see :meth:`results`."""
        blocks = []
        for start in range(0, len(paths), BLOCK_ROWS):
            part = paths[start:start + BLOCK_ROWS]
            try:
                future = self.pool.submit(_read_block, self.base_dir, part, self.shape,
                                          self.tolerance)
            except RuntimeError:  # a broken or shut-down pool: read here when asked
                future = Future()
                future.set_exception(RuntimeError("the reader pool is not running"))
            blocks.append((part, future))
        return blocks

    def results(self, blocks: list[tuple[list[str], Future]]) -> list[RowResult]:
        """Per row, in order: ``(image or None, status, reason or note)``."""
        out: list[RowResult] = []
        for part, future in blocks:
            try:
                out.extend(_split(*future.result()))
            except Exception:  # the task failed as a whole: read its rows here
                out.extend(_read_rows(self.base_dir, part, self.shape, self.tolerance))
        return out

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
