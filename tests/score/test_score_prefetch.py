"""Reading chunks ahead (lensfind.score.prefetch)."""
from __future__ import annotations

import types

from lensfind.score import prefetch


def test_reads_run_at_most_one_chunk_ahead():
    pulled = []

    def chunks():
        for k in range(5):
            pulled.append(k)
            yield [types.SimpleNamespace(index=k)]

    class Loader:
        source = None

        def locate(self, rows):
            return {}

    class Pool:
        def submit(self, fn, *args):
            return None

    seen = []
    for rows, _ in prefetch.prefetched(chunks(), Pool(), None, Loader()):
        seen.append((rows[0].index, len(pulled)))
    assert seen == [(0, 2), (1, 3), (2, 4), (3, 5), (4, 5)]


def test_one_row_never_stops_the_run():
    from lensfind.score.reader import CutoutError

    def bad(row, position):
        raise CutoutError("missing_file", "no such file")

    def broken(row, position):
        raise ZeroDivisionError("x" * 500)

    assert prefetch.load_row(bad, None, None) == (None, "missing_file", "no such file")
    image, status, reason = prefetch.load_row(broken, None, None)
    assert image is None and status == "error"
    assert reason == "ZeroDivisionError: " + "x" * 200
    assert prefetch.load_row(lambda row, position: ("img", "note"), None, None) == (
        "img", "ok", "note")
