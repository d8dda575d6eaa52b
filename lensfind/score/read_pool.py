"""Reading a chunk's cutout files in worker processes, a block of rows per task.

Threads read files well while the work per file is I/O, but the per-file Python work here
(header parsing, checks, crop or pad: about 100 us a file) holds the GIL, and many threads
contending for it serialise: 16 reader threads fed an H100 with about 1,600 cutouts/s, a tenth
of what the GPU scores; 14 worker processes, which share no GIL, fed it 5,200/s with the
pixels coming back through pipes (in shared memory: not measured on a GPU; on 2 CPU cores
the calling process then spent 80 instead of 140 us per cutout). Each task reads
:data:`BLOCK_ROWS` rows and returns a status per row. The pixels travel one of two ways:

* **shared memory** (when ``slots`` are asked for and ``/dev/shm`` has room for them): the
  workers write each good cutout straight into its row's slot of a buffer shared with the
  calling process, which copies a chunk's good rows out a run of consecutive slots at a time
  (:meth:`ProcessReader.stack`). Nothing is pickled, and the calling process -- which also
  runs the models and writes the scores -- does no per-file work.
* **pipes** otherwise: a task sends back one stacked array of its good cutouts.

The pool uses the ``forkserver`` start method on Linux (``spawn`` elsewhere): never ``fork``,
which copies a process whose TensorFlow or JAX threads may hold locks. Workers import only this
module, :mod:`lensfind.score.reader` and NumPy -- and, as always with Python multiprocessing
outside ``fork``, the calling script's ``__main__`` module, which therefore needs the
``if __name__ == "__main__":`` guard.

If a task fails as a whole (a worker killed, say), its rows are read again in the calling
process, row by row, so every row still ends with an image or a status. If the calling process
is killed, its workers notice within :data:`WATCH_S` seconds and exit (idle pool workers would
otherwise wait forever), and Python's resource tracker then removes the shared buffer.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import shared_memory
from pathlib import Path

import numpy as np

from lensfind.score.reader import CutoutError, load_cutout

#: rows read by one task (a 100x100 float32 block is then 5 MB)
BLOCK_ROWS = 128

#: seconds between a worker's checks that the calling process is still alive
WATCH_S = 1.0
#: ``/dev/shm`` must have this many times the shared buffer's size free to be used
SHM_HEADROOM = 2

RowResult = tuple  # (image (H, W) float32, a Slot, or None; status; reason or note)


class Slot(int):
    """A row's cutout, held in this slot of a :class:`ProcessReader`'s shared buffer."""


_ATTACHED: dict[str, tuple[shared_memory.SharedMemory, np.ndarray]] = {}


def _exit_with(pid: int) -> None:
    """Worker initializer: exit when process ``pid`` (the one that made the pool) is gone."""
    if sys.platform == "win32":  # os.kill(pid, 0) would send CTRL_C there
        return

    def watch():
        while True:
            time.sleep(WATCH_S)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, another user's: not ours to judge
                pass

    threading.Thread(target=watch, name="lensfind-parent-watch", daemon=True).start()


def _shared_array(name: str, slots: int, shape: tuple[int, int]) -> np.ndarray:
    """In a worker: the shared buffer ``name`` as ``(slots, H, W)`` float32 (attached once)."""
    entry = _ATTACHED.get(name)
    if entry is None:
        shm = shared_memory.SharedMemory(name=name)
        array = np.ndarray((slots,) + tuple(shape), np.float32, buffer=shm.buf)
        entry = _ATTACHED[name] = (shm, array)
    return entry[1]


def _read_block(base_dir: Path, paths: list[str], shape: tuple[int, int], tolerance: float,
                target: tuple[str, int, int] | None = None
                ) -> tuple[np.ndarray | None, list[tuple[str, str]]]:
    """``(images (k, H, W) of the ok rows, [(status, reason or note)] per row)``.

    With ``target = (shared buffer name, its slots, first slot)`` row ``j``'s cutout is written
    to slot ``first + j`` instead and ``images`` is None.
    """
    out = None if target is None else _shared_array(target[0], target[1], shape)
    images, statuses = [], []
    for j, text in enumerate(paths):
        try:
            with warnings.catch_warnings():  # astropy on damaged files: the status says it
                warnings.simplefilter("ignore")
                image, note = load_cutout(base_dir, text, shape, tolerance=tolerance)
        except CutoutError as err:
            statuses.append((err.status, err.reason))
            continue
        except Exception as err:  # never let one row stop the block
            statuses.append(("error", f"{type(err).__name__}: {str(err)[:200]}"))
            continue
        if out is None:
            images.append(image)
        else:
            out[target[2] + j] = image
        statuses.append(("ok", note))
    if out is not None:
        return None, statuses
    stacked = np.stack(images) if images else np.zeros((0,) + tuple(shape), np.float32)
    return stacked, statuses


def _read_rows(base_dir: Path, paths: list[str], shape: tuple[int, int],
               tolerance: float) -> list[RowResult]:
    images, statuses = _read_block(base_dir, paths, shape, tolerance)
    return _split(images, statuses)


def _split(images: np.ndarray | None, statuses: list[tuple[str, str]],
           first_slot: int = 0) -> list[RowResult]:
    out, k = [], 0
    for j, (status, text) in enumerate(statuses):
        if status != "ok":
            out.append((None, status, text))
        elif images is None:
            out.append((Slot(first_slot + j), status, text))
        else:
            out.append((images[k], status, text))
            k += 1
    return out


def shm_has_room(nbytes: int) -> bool:
    """Whether ``/dev/shm`` exists with :data:`SHM_HEADROOM` x ``nbytes`` free (a container's
    small default ``/dev/shm`` would otherwise kill the writer with SIGBUS)."""
    try:
        st = os.statvfs("/dev/shm")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize >= SHM_HEADROOM * nbytes


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``."""
    return "forkserver" if sys.platform != "win32" else "spawn"


Block = tuple[list[str], int, Future]  # (paths, first slot, future)


class ProcessReader:
    """A pool of ``processes`` workers reading the cutout files of rows given as path cells.

    Args:
        processes: worker processes.
        base_dir: the candidate list's folder (relative paths are resolved against it).
        shape: the models' ``(H, W)``.
        tolerance: the crop / pad tolerance of :func:`~lensfind.score.reader.conform`.
        slots: size of the shared buffer in cutouts (0: pixels come back through pipes). It is
            used in two halves, one per :meth:`submit` in turn: a submitted list's pixels must
            be taken (:meth:`stack`) before the list after the next one is submitted, and a
            list may have at most ``slots // 2`` paths.
    """

    def __init__(self, processes: int, base_dir: Path, shape: tuple[int, int],
                 tolerance: float, *, slots: int = 0):
        self.base_dir, self.shape, self.tolerance = Path(base_dir), tuple(shape), tolerance
        self._shm: shared_memory.SharedMemory | None = None
        self.buffer: np.ndarray | None = None  # (slots, H, W) float32 in shared memory
        self._out: np.ndarray | None = None
        self._half = 0  # the buffer half the next submit reads into
        nbytes = int(slots) * int(np.prod(self.shape)) * 4
        if slots > 0 and shm_has_room(nbytes):
            self._shm = shared_memory.SharedMemory(create=True, size=nbytes)
            self.buffer = np.ndarray((int(slots),) + self.shape, np.float32,
                                     buffer=self._shm.buf)
        context = multiprocessing.get_context(start_method())
        self.pool = ProcessPoolExecutor(max_workers=int(processes), mp_context=context,
                                        initializer=_exit_with, initargs=(os.getpid(),))

    @property
    def shared(self) -> bool:
        """Whether pixels come back through shared memory."""
        return self.buffer is not None

    def submit(self, paths: list[str]) -> list[Block]:
        """Start reading ``paths`` (one row each) in blocks; see :meth:`results`."""
        first_slot = 0
        if self.buffer is not None:
            half = len(self.buffer) // 2
            if len(paths) > half:
                raise ValueError(f"{len(paths)} paths for a shared buffer of 2 x {half} slots")
            first_slot, self._half = self._half * half, 1 - self._half
        blocks = []
        for start in range(0, len(paths), BLOCK_ROWS):
            part = paths[start:start + BLOCK_ROWS]
            slot = first_slot + start
            target = None if self._shm is None else (self._shm.name, len(self.buffer), slot)
            try:
                future = self.pool.submit(_read_block, self.base_dir, part, self.shape,
                                          self.tolerance, target)
            except RuntimeError:  # a broken or shut-down pool: read here when asked
                future = Future()
                future.set_exception(RuntimeError("the reader pool is not running"))
            blocks.append((part, slot, future))
        return blocks

    def results(self, blocks: list[Block]) -> list[RowResult]:
        """Per row, in order: ``(image, status, reason or note)``; the image is an array,
        a :class:`Slot` of the shared buffer, or None for a row that was not read."""
        out: list[RowResult] = []
        for part, slot, future in blocks:
            try:
                out.extend(_split(*future.result(), first_slot=slot))
            except Exception:  # the task failed as a whole: read its rows here
                out.extend(_read_rows(self.base_dir, part, self.shape, self.tolerance))
        return out

    def stack(self, images: Sequence) -> np.ndarray:
        """``images`` (arrays or :class:`Slot` s) as one ``(n, H, W)`` float32 array.

        All slots (the usual case with shared memory): copied out of the shared buffer a run
        of consecutive slots at a time (one run when every row of the chunk was good) into an
        array reused from call to call, valid until the next call.
        """
        if self.buffer is None or not all(isinstance(i, Slot) for i in images):
            return np.stack([self.buffer[i] if isinstance(i, Slot) else i for i in images])
        n = len(images)
        if self._out is None or len(self._out) < n:
            self._out = np.empty((n,) + self.shape, np.float32)
        slots = np.fromiter(images, np.int64, n)
        breaks = np.flatnonzero(np.diff(slots) != 1) + 1
        for start, stop in zip(np.r_[0, breaks], np.r_[breaks, n]):
            first = slots[start]
            self._out[start:stop] = self.buffer[first:first + stop - start]
        return self._out[:n]

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self._shm is not None:
            self.buffer = None
            self._shm.close()
            self._shm.unlink()
            self._shm = None

    def __enter__(self) -> ProcessReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
