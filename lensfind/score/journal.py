"""The resume journal of a scoring run: the rows scored so far and a record of how far they go.

Two work files sit next to the scores ``OUT`` while a run is under way (:func:`work_paths`):

* ``OUT.partial``: the rows scored so far, unranked, in the list's order -- a CSV file in the
  journal's :class:`~lensfind.score.rows.RowFormat` (the final columns without ``rank``). Each
  chunk is appended and flushed to disk (``fsync``) before it is recorded.
* ``OUT.progress.json``: what is done -- rows, bytes of ``OUT.partial``, status counts -- and the
  fingerprint of the run (:func:`run_fingerprint`): the candidate list (path, SHA-256, rows), the
  stack or survey tiles, the model files, the settings that change numbers and the output
  columns, plus
  the chunk and batch sizes. Replaced atomically and fsynced after every chunk
  (:func:`lensfind.files.write_json`).

:meth:`Journal.start` resumes when the record is readable, its fingerprint equals this run's and
``OUT.partial`` is at least as long as recorded: the partial file is cut back to the recorded
length (a torn write after the last recorded chunk is dropped) and the unfinished run's chunk and
batch sizes are kept so that its numbers are reproduced. Anything else starts afresh and says
why. :meth:`Journal.remove` deletes both files once the final file is written.
"""
from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lensfind.files import read_json, write_json
from lensfind.score.rows import RowFormat, ScoreRow

PROGRESS_FORMAT = "lensfind-score-progress"
PROGRESS_VERSION = 1


def work_paths(out: Path) -> tuple[Path, Path]:
    """``(OUT.partial, OUT.progress.json)``: the unranked rows so far and the progress record."""
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".progress.json")


def run_fingerprint(cands, source: Any, models: Any, *, mc_samples: int, seed: int,
                    tolerance: float, columns: Sequence[str]) -> dict[str, Any]:
    """What must be equal for a resumed run to continue an unfinished one.

    ``cands``: the :class:`~lensfind.score.reader.CandidateList`; ``source``: the cutout
    source's fingerprint (a stack's or the tiles' paths, sizes and times; None for files);
    ``models``: the committee's :meth:`~lensfind.score.committee.Committee.fingerprint`;
    ``columns``: the final header.
    """
    return {"csv": {"path": str(cands.path.resolve()), "sha256": cands.sha256,
                    "rows": cands.n_rows},
            "source": source, "models": models,
            "mc_samples": mc_samples, "seed": seed,
            "tolerance": tolerance, "columns": list(columns)}


def read_progress(out: Path, fingerprint: dict[str, Any],
                  say: Callable[[str], None]) -> dict[str, Any] | None:
    """The progress record of an unfinished run of the same setup, or None (saying why)."""
    partial, progress = work_paths(out)
    if not progress.exists():
        return None
    try:
        state = read_json(progress)
        ok = (state.get("format") == PROGRESS_FORMAT
              and state.get("version") == PROGRESS_VERSION
              and isinstance(state.get("rows_done"), int) and isinstance(state.get("bytes"), int))
    except (OSError, ValueError):
        ok = False
        state = {}
    if not ok:
        say(f"{progress}: unreadable progress record; starting afresh")
        return None
    if state.get("fingerprint") != fingerprint:
        old = state.get("fingerprint") or {}
        what = [k for k in fingerprint if old.get(k) != fingerprint[k]]
        say(f"{progress}: an unfinished run with a different {', '.join(what) or 'setup'} "
            "was found; starting afresh")
        return None
    if not partial.exists() or partial.stat().st_size < state["bytes"]:
        say(f"{partial}: missing or shorter than its progress record; starting afresh")
        return None
    return state


def _fsync(fh) -> None:
    fh.flush()
    os.fsync(fh.fileno())


class Journal:
    """``OUT.partial`` and ``OUT.progress.json`` of one run (see the module doc).

    Made by :meth:`start`. Rows are appended a chunk at a time inside ``with journal:`` (which
    holds ``OUT.partial`` open); :meth:`rows` reads them back.

    Attributes:
        out: the final scores file the journal belongs to.
        partial, progress: the two work files.
        format: the rows' format (no ``rank`` column).
        record: the progress record as last written.
        counts: status -> rows, of all rows in the journal.
        resumed_from: rows that were already done when the run started (0 for a fresh one).
        chunk_size, batch_size: the sizes to score with (a resumed run's are the unfinished
            one's, so that its numbers are reproduced).
    """

    def __init__(self, out: Path, row_format: RowFormat, record: dict[str, Any], *,
                 chunk_size: int, batch_size: int):
        self.out = out
        self.chunk_size = chunk_size
        self.batch_size = batch_size
        self.partial, self.progress = work_paths(out)
        self.format = row_format
        self.record = record
        self.counts: collections.Counter = collections.Counter(record.get("counts", {}))
        self.resumed_from: int = record["rows_done"]
        self._fh = None

    @classmethod
    def start(cls, out: Path, row_format: RowFormat, fingerprint: dict[str, Any], *,
              chunk_size: int, batch_size: int, n_rows: int,
              say: Callable[[str], None]) -> Journal:
        """Resume the unfinished run of the same setup, or start afresh (see the module doc).

        ``chunk_size``, ``batch_size``: this run's; a resumed run keeps the unfinished one's
        (:attr:`chunk_size`, :attr:`batch_size`). ``n_rows``: rows of the list (for the note).
        """
        partial, _ = work_paths(out)
        state = read_progress(out, fingerprint, say)
        if state is not None:
            if state.get("chunk_size", chunk_size) != chunk_size or \
                    state.get("batch_size", batch_size) != batch_size:
                chunk_size, batch_size = state["chunk_size"], state["batch_size"]
                say(f"resuming with the unfinished run's --chunk-size {chunk_size} and "
                    f"--batch-size {batch_size} so that its numbers are reproduced")
            with open(partial, "r+b") as fh:
                fh.truncate(state["bytes"])
                _fsync(fh)
            if state["rows_done"]:
                say(f"resuming {out}: {state['rows_done']} of {n_rows} rows already done")
            return cls(out, row_format, state, chunk_size=chunk_size, batch_size=batch_size)
        with open(partial, "wb") as fh:
            fh.write(row_format.header_text().encode("utf-8"))
            _fsync(fh)
        state = {"format": PROGRESS_FORMAT, "version": PROGRESS_VERSION,
                 "fingerprint": fingerprint, "chunk_size": chunk_size, "batch_size": batch_size,
                 "rows_done": 0, "bytes": partial.stat().st_size, "counts": {}}
        journal = cls(out, row_format, state, chunk_size=chunk_size, batch_size=batch_size)
        journal._write_record()
        return journal

    @property
    def rows_done(self) -> int:
        return self.record["rows_done"]

    def _write_record(self) -> None:
        write_json(self.progress, self.record, sort_keys=True, fsync=True)

    def __enter__(self) -> Journal:
        self._fh = open(self.partial, "ab")
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()
        self._fh = None

    def append(self, rows: Sequence[ScoreRow]) -> None:
        """Add a chunk's rows: written and flushed to disk first, then recorded."""
        for row in rows:
            self.counts[row.status] += 1
        fh = self._fh
        fh.write(self.format.text(rows).encode("utf-8"))
        _fsync(fh)
        self.record.update(rows_done=self.rows_done + len(rows), bytes=fh.tell(),
                           counts=dict(self.counts))
        self._write_record()

    def rows(self) -> Iterator[ScoreRow]:
        """The rows written so far, in order."""
        return self.format.read(self.partial)

    def read_columns(self, names: Sequence[str]) -> Iterator[tuple[str, ...]]:
        """The text of the named columns of the rows written so far, in order."""
        return self.format.read_columns(self.partial, names)

    def remove(self) -> None:
        """Delete both work files (once the final file is written)."""
        os.unlink(self.partial)
        os.unlink(self.progress)
