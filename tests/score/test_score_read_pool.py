"""Cutout files read in worker processes: same results as in-process reads, and no row lost."""
from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from .score_helpers import SIZE, bad_files, blob, write_fits
from lensfind.score import read_pool
from lensfind.score.read_pool import ProcessReader, Slot

SHAPE = (SIZE, SIZE)


def _expected(base, paths):
    return read_pool._read_rows(base, paths, SHAPE, 0.1)


def _same(reader, got, expected):
    """Same statuses and notes, the same pixels for the ok rows (through ``reader.stack``)."""
    assert [(s, t) for _, s, t in got] == [(s, t) for _, s, t in expected]
    ok = [k for k, (_, s, _) in enumerate(expected) if s == "ok"]
    if ok:
        pixels = reader.stack([got[k][0] for k in ok])
        assert pixels.dtype == np.float32
        assert np.array_equal(pixels, np.stack([expected[k][0] for k in ok]))


def _good(tmp_path, n):
    for k in range(n):
        write_fits(tmp_path / f"g{k}.fits", blob(SIZE, k))
    return [f"g{k}.fits" for k in range(n)]


@pytest.mark.parametrize("slots", [0, 64], ids=["pipes", "shared-memory"])
def test_blocks_read_in_processes_match_reads_in_this_process(tmp_path, monkeypatch, slots):
    monkeypatch.setattr(read_pool, "BLOCK_ROWS", 4)
    paths = [rel for rel, _, _ in bad_files(tmp_path).values()]
    for k, path in enumerate(_good(tmp_path, 5)):
        paths.insert(3 * k, path)
    expected = _expected(tmp_path, paths)
    assert sum(s == "ok" for _, s, _ in expected) == 5
    with ProcessReader(2, tmp_path, SHAPE, 0.1, slots=slots) as reader:
        assert reader.shared == bool(slots)
        for _ in range(3):  # both halves of the shared buffer, then the first again
            blocks = reader.submit(paths)
            assert len(blocks) == -(-len(paths) // 4)
            got = reader.results(blocks)
            assert all(isinstance(img, Slot) == bool(slots) for img, s, _ in got if s == "ok")
            _same(reader, got, expected)


def test_shared_buffer_is_removed_and_pipes_are_used_without_room(tmp_path, monkeypatch):
    paths = _good(tmp_path, 3)
    with ProcessReader(1, tmp_path, SHAPE, 0.1, slots=8) as reader:
        name = reader._shm.name
        assert Path("/dev/shm", name.lstrip("/")).exists()
        with pytest.raises(ValueError, match="5 paths for a shared buffer of 2 x 4 slots"):
            reader.submit(paths + paths[:2])
    assert not Path("/dev/shm", name.lstrip("/")).exists()
    monkeypatch.setattr(read_pool, "SHM_HEADROOM", 10**12)  # /dev/shm "too small"
    with ProcessReader(1, tmp_path, SHAPE, 0.1, slots=8) as reader:
        assert not reader.shared
        _same(reader, reader.results(reader.submit(paths)), _expected(tmp_path, paths))


@pytest.mark.parametrize("slots", [0, 64], ids=["pipes", "shared-memory"])
def test_rows_of_a_failed_task_are_read_here(tmp_path, slots):
    paths = _good(tmp_path, 6) + ["missing.fits"]
    reader = ProcessReader(2, tmp_path, SHAPE, 0.1, slots=slots)
    try:
        _same(reader, reader.results(reader.submit(paths[:2])), _expected(tmp_path, paths[:2]))
        for process in list(reader.pool._processes.values()):  # a worker killed, e.g. by OOM
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        got = reader.results(reader.submit(paths))
        _same(reader, got, _expected(tmp_path, paths))
    finally:
        reader.close()
    got = reader.results(reader.submit(paths))  # after close: read here as well
    _same(reader, got, _expected(tmp_path, paths))
