"""Cutout files read in worker processes: same results as in-process reads, and no row lost."""
from __future__ import annotations

import os
import signal

import numpy as np

from .score_helpers import SIZE, bad_files, blob, write_fits
from lensfind.score import read_pool
from lensfind.score.read_pool import ProcessReader


def _expected(base, paths):
    return read_pool._read_rows(base, paths, (SIZE, SIZE), 0.1)


def _same(got, expected):
    assert [(s, t) for _, s, t in got] == [(s, t) for _, s, t in expected]
    for (a, _, _), (b, _, _) in zip(got, expected):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.dtype == np.float32 and np.array_equal(a, b)


def test_blocks_read_in_processes_match_reads_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(read_pool, "BLOCK_ROWS", 4)
    paths = [rel for rel, _, _ in bad_files(tmp_path).values()]
    for k in range(5):
        write_fits(tmp_path / f"g{k}.fits", blob(SIZE, k))
        paths.insert(3 * k, f"g{k}.fits")
    with ProcessReader(2, tmp_path, (SIZE, SIZE), 0.1) as reader:
        blocks = reader.submit(paths)
        assert len(blocks) == -(-len(paths) // 4)
        got = reader.results(blocks)
    expected = _expected(tmp_path, paths)
    assert sum(s == "ok" for _, s, _ in expected) == 5
    _same(got, expected)


def test_rows_of_a_failed_task_are_read_here(tmp_path):
    paths = []
    for k in range(6):
        write_fits(tmp_path / f"g{k}.fits", blob(SIZE, k))
        paths.append(f"g{k}.fits")
    paths.append("missing.fits")
    reader = ProcessReader(2, tmp_path, (SIZE, SIZE), 0.1)
    try:
        _same(reader.results(reader.submit(paths[:2])), _expected(tmp_path, paths[:2]))
        for process in list(reader.pool._processes.values()):  # a worker killed, e.g. by OOM
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        got = reader.results(reader.submit(paths))
    finally:
        reader.close()
    _same(got, _expected(tmp_path, paths))
    got = reader.results(reader.submit(paths))  # after close: read here as well
    _same(got, _expected(tmp_path, paths))
