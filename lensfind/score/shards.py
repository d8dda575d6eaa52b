"""Scoring one list on many machines: ``--shard K/N`` parts and their merge.

``lensfind score ... --out OUT --shard K/N`` scores part ``K`` (1-based) of ``N``: a block of
whole chunks (:meth:`Shard.rows`), so that every row is scored in the same chunk -- with the same
MC-dropout masks -- as in one run over the whole list. A shard keeps its own journal and lock
and resumes on its own; when done it leaves two files beside ``OUT``:

* ``<OUT stem>.shard-K-of-N.csv``: its rows, unranked, in the journal's format;
* ``<OUT stem>.shard-K-of-N.json``: its record -- the run's fingerprint, the shard's rows, the
  status counts, and the setup the merge needs (list, cutout source, columns, member labels).

``lensfind merge-scores --out OUT`` (:func:`merge_shards`) checks that all ``N`` records are
there, of one run, covering the list without gap, then writes ``OUT`` exactly as one run would
(:func:`~lensfind.score.ranking.finish`: the global ranking, the grade table, the top-N grid):
byte for byte the same file.
"""
from __future__ import annotations

import collections
import dataclasses
import itertools
import math
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lensfind.files import read_json, write_json
from lensfind.score.outputs import check_output
from lensfind.score.ranking import finish
from lensfind.score.rows import RowFormat, ScoreRow
from lensfind.validation import fail

SHARD_FORMAT = "lensfind-score-shard"
SHARD_VERSION = 1
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


class ShardError(ValueError):
    """Shards cannot be merged; the message names the files and what is missing or differs."""


@dataclasses.dataclass(frozen=True)
class Shard:
    """Part ``k`` (1-based) of ``n``."""

    k: int
    n: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"K/N"`` with ``1 <= K <= N``; anything else is refused, naming the value."""
        match = _SPEC.fullmatch(str(text))
        if match is None or not 1 <= int(match[1]) <= int(match[2]):
            fail("--shard", text, "K/N with whole numbers 1 <= K <= N, e.g. 2/3 (part 2 of 3)")
        return cls(int(match[1]), int(match[2]))

    def rows(self, n_rows: int, chunk_size: int) -> tuple[int, int]:
        """``[start, stop)`` of this part: whole chunks, the list's chunks shared out evenly."""
        n_chunks = math.ceil(n_rows / chunk_size)
        first, last = (self.k - 1) * n_chunks // self.n, self.k * n_chunks // self.n
        return min(first * chunk_size, n_rows), min(last * chunk_size, n_rows)

    def path(self, out: Path) -> Path:
        """The shard's rows: ``<out stem>.shard-K-of-N.csv`` beside ``out``."""
        return out.with_name(f"{out.stem}.shard-{self.k}-of-{self.n}.csv")

    def record_path(self, out: Path) -> Path:
        return out.with_name(f"{out.stem}.shard-{self.k}-of-{self.n}.json")


def write_record(shard: Shard, out: Path, record: dict[str, Any]) -> Path:
    path = shard.record_path(out)
    write_json(path, {"format": SHARD_FORMAT, "version": SHARD_VERSION, "shard": [shard.k,
                                                                                 shard.n],
                      **record}, sort_keys=True, fsync=True)
    return path


def read_record(shard: Shard, out: Path) -> dict[str, Any] | None:
    """The record of a finished shard, or None when there is none (or it is unreadable)."""
    path = shard.record_path(out)
    try:
        record = read_json(path)
    except (OSError, ValueError):
        return None
    if record.get("format") != SHARD_FORMAT or record.get("version") != SHARD_VERSION \
            or not shard.path(out).is_file():
        return None
    return record


class ShardRows:
    """The rows of finished shards, read in order as one list (what
    :func:`~lensfind.score.ranking.finish` reads from a journal)."""

    def __init__(self, paths: Sequence[Path], row_format: RowFormat):
        self.paths, self.format = list(paths), row_format

    def rows(self) -> Iterator[ScoreRow]:
        return itertools.chain.from_iterable(self.format.read(p) for p in self.paths)

    def read_columns(self, names: Sequence[str]) -> Iterator[tuple[str, ...]]:
        return itertools.chain.from_iterable(self.format.read_columns(p, names)
                                             for p in self.paths)


def _records(out: Path) -> tuple[int, list[dict[str, Any]]]:
    """All shard records of ``out``, checked to be one complete run; ``(N, records by K)``."""
    pattern = re.compile(re.escape(out.stem) + r"\.shard-(\d+)-of-(\d+)\.json")
    found = sorted({(int(m[1]), int(m[2])) for p in out.parent.glob(f"{out.stem}.shard-*.json")
                    if (m := pattern.fullmatch(p.name))})
    counts = sorted({n for _, n in found})
    if not counts:
        raise ShardError(f"--out {out}: no shard records {out.stem}.shard-K-of-N.json in "
                         f"{out.parent}; expected the files that `lensfind score ... --out {out} "
                         "--shard K/N` leaves when part K is done")
    if len(counts) > 1:
        raise ShardError(f"--out {out}: shard records of different splits N = "
                         f"{', '.join(map(str, counts))} in {out.parent}; expected one N "
                         "(remove the records of the other split)")
    n = counts[0]
    records, missing = [], []
    for k in range(1, n + 1):
        record = read_record(Shard(k, n), out)
        if record is None:
            missing.append(f"{k}/{n} ({Shard(k, n).record_path(out).name})")
        records.append(record)
    if missing:
        raise ShardError(f"--out {out}: shard(s) {', '.join(missing)} not finished; expected "
                         f"all {n} parts: run `lensfind score ... --shard K/{n}` for each")
    first = records[0]
    for k, record in enumerate(records, start=1):
        if record["fingerprint"] != first["fingerprint"]:
            what = [key for key in first["fingerprint"]
                    if record["fingerprint"].get(key) != first["fingerprint"][key]]
            raise ShardError(f"--out {out}: shard {k}/{n} was scored with a different "
                             f"{', '.join(what)} than shard 1/{n}; expected one run's shards")
        expected_start = 0 if k == 1 else records[k - 2]["rows"][1]
        if record["rows"][0] != expected_start:
            raise ShardError(f"--out {out}: shard {k}/{n} starts at row {record['rows'][0]}, "
                             f"expected {expected_start} (were the shards scored with different "
                             "--chunk-size?)")
    if records[-1]["rows"][1] != first["fingerprint"]["csv"]["rows"]:
        raise ShardError(f"--out {out}: the shards end at row {records[-1]['rows'][1]}; the "
                         f"list has {first['fingerprint']['csv']['rows']}")
    return n, records


def merge_shards(out: Path, top: int, open_run: Callable,
                 say: Callable[[str], None]) -> tuple[dict[str, int], dict[str, Path], int]:
    """Write ``out`` from its finished shards as one run would (see the module doc).

    ``open_run(setup)``: the candidate list and cutout loader of the shards' setup (used for the
    grade column and the top-N grid). Returns ``(status counts, reports, rows)``.

    Raises:
        ShardError: a shard is missing or unfinished, or the shards are not one run's.
    """
    suffix = check_output(out)
    n, records = _records(out)
    setup = records[0]["setup"]
    final = RowFormat(tuple(setup["inputs"]), tuple(setup["scores"]), setup["rank"])
    cands, loader, close = open_run(setup)
    try:
        if cands.sha256 != records[0]["fingerprint"]["csv"]["sha256"]:
            raise ShardError(f"--out {out}: the candidate list {cands.path} changed after the "
                             "shards were scored; expected the list they scored")
        rows = ShardRows([Shard(k, n).path(out) for k in range(1, n + 1)],
                         final.without_rank())
        reports = finish(out, rows, final, cands, setup["labels"], loader, top, suffix)
    finally:
        close()
    counts: collections.Counter = collections.Counter()
    for record in records:
        counts.update(record["counts"])
    say(f"merged {n} shards of {cands.n_rows} rows into {out}")
    return dict(counts), reports, cands.n_rows
