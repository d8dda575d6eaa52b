"""Scoring candidate lists: a catalogue (CSV, FITS or ECSV table) of cutouts -> ranked scores.

* :mod:`lensfind.score.reader` -- the list's columns, cutout files, bad-row statuses.
* :mod:`lensfind.score.sources` -- where a row's cutout comes from: its file, a stack
  (:mod:`lensfind.score.stacks`: HDF5, FITS cube, multi-extension FITS) or survey tiles
  (:mod:`lensfind.score.cutouts`: cut at (ra, dec) from the tile whose WCS holds it).
* :mod:`lensfind.score.committee` -- run directories as a committee, MC dropout.
* :mod:`lensfind.score.runner` -- the entry points :func:`score_candidates` (a run's steps,
  chunk by chunk, and its options and result) and :func:`merge_scores`.
* :mod:`lensfind.score.prefetch` -- reading the next chunk's cutouts (threads, or worker
  processes of :mod:`lensfind.score.read_pool`) while one is scored.
* :mod:`lensfind.score.rows` -- a scores row and its CSV cells (the one place that knows the
  columns' order).
* :mod:`lensfind.score.journal` -- ``OUT.partial`` and ``OUT.progress.json``: what is done,
  and resuming after a kill.
* :mod:`lensfind.score.lock` -- ``OUT.lock``: one run per output.
* :mod:`lensfind.score.shards` -- ``--shard K/N`` parts of a list and their merge.
* :mod:`lensfind.score.ranking` -- the final pass: ranks, the final file, the reports' input.
* :mod:`lensfind.score.outputs` -- the final file as CSV, FITS, ECSV or Parquet.
* :mod:`lensfind.score.report` -- grade table (thesis Table 5-2) and top-N PNG grid.
* :mod:`lensfind.score.examples` -- makes the graded example list in ``data/examples/``.

Only light modules are imported here; TensorFlow loads when models are.
"""
from __future__ import annotations

__all__ = ["score_candidates", "merge_scores", "ScoreOptions", "ScoreResult", "STATUSES"]


def __getattr__(name: str):
    if name in ("score_candidates", "merge_scores", "ScoreOptions", "ScoreResult"):
        from lensfind.score import runner
        return getattr(runner, name)
    if name == "STATUSES":
        from lensfind.score.reader import STATUSES
        return STATUSES
    raise AttributeError(f"module 'lensfind.score' has no attribute {name!r}")
