"""The resume journal: OUT.partial and OUT.progress.json (lensfind.score.journal)."""
from __future__ import annotations

import json

from lensfind.score.journal import PROGRESS_FORMAT, Journal, work_paths
from lensfind.score.rows import RowFormat, ScoreRow

FMT = RowFormat.for_list(["id", "grade"], ("p_lens", "p_lens_std"), rank=True).without_rank()
PRINT = {"csv": {"path": "/x/list.csv", "sha256": "ab", "rows": 5}, "image": None,
         "models": [], "mc_samples": 1, "seed": 0, "tolerance": 0.1, "columns": ["id"]}


def _row(i: int, status: str = "ok") -> ScoreRow:
    return ScoreRow({"id": f"c{i}", "grade": "A"}, status, "",
                    {"p_lens": 0.5 + i / 100, "p_lens_std": 0.01} if status == "ok" else {})


def _start(out, notes, fingerprint=PRINT, chunk_size=2, batch_size=8):
    return Journal.start(out, FMT, fingerprint, chunk_size=chunk_size, batch_size=batch_size,
                         n_rows=5, say=notes.append)


def test_a_fresh_journal_records_each_chunk_after_writing_it(tmp_path):
    out = tmp_path / "s.csv"
    partial, progress = work_paths(out)
    assert (partial.name, progress.name) == ("s.csv.partial", "s.csv.progress.json")
    notes = []
    journal = _start(out, notes)
    assert notes == [] and journal.resumed_from == 0
    assert partial.read_text() == "id,grade,status,reason,p_lens,p_lens_std\n"
    record = json.loads(progress.read_text())
    assert record == {"format": PROGRESS_FORMAT, "version": 1, "fingerprint": PRINT,
                      "chunk_size": 2, "batch_size": 8, "rows_done": 0,
                      "bytes": partial.stat().st_size, "counts": {}}
    with journal:
        journal.append([_row(0), _row(1, "missing_file")])
        journal.append([_row(2)])
    record = json.loads(progress.read_text())
    assert record["rows_done"] == 3 and record["bytes"] == partial.stat().st_size
    assert record["counts"] == {"ok": 2, "missing_file": 1}
    assert partial.read_text().splitlines()[1:] == [
        "c0,A,ok,,0.5,0.01", "c1,A,missing_file,,,", "c2,A,ok,,0.52,0.01"]
    assert [r.inputs["id"] for r in journal.rows()] == ["c0", "c1", "c2"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csv.partial", "s.csv.progress.json"]
    journal.remove()
    assert list(tmp_path.iterdir()) == []


def test_resume_cuts_a_torn_write_and_keeps_the_unfinished_run_sizes(tmp_path):
    out = tmp_path / "s.csv"
    partial, _ = work_paths(out)
    journal = _start(out, [])
    with journal:
        journal.append([_row(0), _row(1)])
    done = partial.read_bytes()
    with open(partial, "ab") as fh:
        fh.write(b"c2,A,ok,,0.5")  # killed mid-write
    notes = []
    again = _start(out, notes, chunk_size=99)
    assert partial.read_bytes() == done
    assert again.resumed_from == 2 and again.rows_done == 2
    assert (again.chunk_size, again.batch_size) == (2, 8)
    assert dict(again.counts) == {"ok": 2}
    assert notes == ["resuming with the unfinished run's --chunk-size 2 and --batch-size 8 so "
                     "that its numbers are reproduced",
                     f"resuming {out}: 2 of 5 rows already done"]


def test_another_setup_or_a_damaged_journal_starts_afresh(tmp_path):
    out = tmp_path / "s.csv"
    partial, progress = work_paths(out)
    with _start(out, []) as journal:
        journal.append([_row(0)])
    notes = []
    other = {**PRINT, "seed": 1, "tolerance": 0.2}
    fresh = _start(out, notes, fingerprint=other)
    assert fresh.resumed_from == 0 and partial.read_text().count("\n") == 1
    assert notes == [f"{progress}: an unfinished run with a different seed, tolerance was "
                     "found; starting afresh"]
    with fresh:
        fresh.append([_row(0), _row(1)])
    partial.write_text("id\n")
    notes.clear()
    assert _start(out, notes, fingerprint=other).resumed_from == 0
    assert notes == [f"{partial}: missing or shorter than its progress record; starting afresh"]
    progress.write_text("{not json")
    notes.clear()
    assert _start(out, notes).resumed_from == 0
    assert notes == [f"{progress}: unreadable progress record; starting afresh"]
