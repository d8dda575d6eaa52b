"""Score a candidate list in chunks: bounded memory, parallel reads, progress, resume after a kill.

How a run proceeds (:func:`score_candidates`):

1. The list is checked as a whole (:func:`~lensfind.score.reader.scan_candidates`): refusals
   come before any model is loaded. Then the models are loaded and the output columns fixed.
2. Rows are read ``chunk_size`` at a time. While the models score one chunk, ``workers``
   threads or processes (``readers``; :mod:`lensfind.score.prefetch`,
   :mod:`lensfind.score.read_pool`) already read the next chunk's files, so at most two chunks
   of cutouts are in memory whatever the list's length. Bad rows get a status and a reason and
   are skipped by the models (:data:`~lensfind.score.reader.STATUSES`).
3. Each scored chunk is appended to ``OUT.partial`` and flushed to disk (``fsync``); only then
   does ``OUT.progress.json`` (replaced atomically) record how many rows and bytes are done.
4. When all rows are in, a final pass ranks the ``ok`` rows by ``p_lens`` (1 = most lens-like;
   ties keep the list's order) and writes ``OUT`` (via a temporary name, then renamed); the
   work files are removed, and the grade table and top-N grid are written
   (:mod:`lensfind.score.report`).

Resume: starting the same command again after a kill reads ``OUT.progress.json``; if the
candidate list (its SHA-256), the survey image, the model files and the settings that change
numbers are the same, ``OUT.partial`` is cut back to the recorded length and scoring goes on
from the next unscored row -- rows already written are not scored again, and the final file
equals an uninterrupted run's. Anything else starts afresh (and says why). The chunk and batch
sizes of the unfinished run are kept so the numbers match.
"""
from __future__ import annotations

import collections
import csv
import dataclasses
import io
import json
import math
import os
import sys
import time
import warnings
from array import array
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.score.prefetch import CutoutLoader, prefetched
from lensfind.score.read_pool import ProcessReader, RowResult
from lensfind.score.reader import STATUSES, CandidateList, CandidateListError, Row, scan_candidates

PROGRESS_FORMAT = "lensfind-score-progress"
PROGRESS_VERSION = 1
STATUS_COLUMNS = ("status", "reason")
RANK_COLUMN = "rank"
#: how cutout files are read: worker threads, worker processes, or ``auto``
READERS = ("auto", "threads", "processes")
#: ``readers = "auto"`` uses processes on machines with at least this many CPU cores
AUTO_PROCESS_CORES = 8


@dataclasses.dataclass(frozen=True)
class ScoreOptions:
    """Settings of a scoring run.

    Attributes:
        mc_samples: MC-dropout passes per model (1 = one deterministic pass).
        chunk_size: rows read, scored and written together (memory ~ 2 chunks of cutouts).
        workers: threads or processes reading cutout files.
        readers: ``"threads"``, ``"processes"`` (no shared GIL: for fast GPUs, see
            :mod:`lensfind.score.read_pool`) or ``"auto"``: processes on machines with at least
            :data:`AUTO_PROCESS_CORES` cores when reading files (threads for a survey image).
        batch_size: images per forward pass.
        seed: base of the MC-dropout seeds.
        tolerance: relative size difference fixed by centre crop / pad (see reader).
        top: cutouts in the top-N PNG grid (0: none).
        progress: show a tqdm progress bar with the rate (cutouts/s) on stderr.
        id_column, path_column: names of the id and path columns.
    """

    mc_samples: int = 1
    chunk_size: int = 256
    workers: int = 4
    readers: str = "auto"
    batch_size: int = 32
    seed: int = 0
    tolerance: float = 0.1
    top: int = 16
    progress: bool = True
    id_column: str = "id"
    path_column: str = "path"

    def __post_init__(self):
        from lensfind.validation import check_range, fail
        for name in ("mc_samples", "chunk_size", "workers", "batch_size", "seed", "top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"--{name.replace('_', '-')}", value, "an integer")
        check_range("--mc-samples", self.mc_samples, 1)
        check_range("--chunk-size", self.chunk_size, 1)
        check_range("--workers", self.workers, 1, 256)
        check_range("--batch-size", self.batch_size, 1)
        check_range("--seed", self.seed, 0)
        check_range("--top", self.top, 0, 1000)
        check_range("--tolerance", self.tolerance, 0.0, 0.5)
        if self.readers not in READERS:
            fail("--readers", self.readers, f"one of {', '.join(READERS)}")

    def reads_in_processes(self, survey: bool) -> bool:
        """Whether files are read by worker processes (never for a survey image)."""
        if survey or self.readers == "threads":
            return False
        return self.readers == "processes" or (os.cpu_count() or 1) >= AUTO_PROCESS_CORES


@dataclasses.dataclass
class ScoreResult:
    """What a run did.

    Attributes:
        out: the scores CSV.
        n_rows: rows in the list.
        counts: status -> rows (all rows, this session's and a resumed run's).
        resumed_from: rows found already done (0 for a fresh run).
        scored_now: rows read in this session.
        elapsed_s: wall time of this session's scoring loop and final pass.
        reports: paths of the grade table (CSV, Markdown) and the top-N grid that were written.
    """

    out: Path
    n_rows: int
    counts: dict[str, int]
    resumed_from: int
    scored_now: int
    elapsed_s: float
    reports: dict[str, Path]

    @property
    def rate(self) -> float:
        """Rows per second in this session."""
        return self.scored_now / self.elapsed_s if self.elapsed_s > 0 else float("nan")

    def summary(self) -> str:
        """One line per status with counts, e.g. for the CLI."""
        ok = self.counts.get("ok", 0)
        lines = [f"scored {ok} of {self.n_rows} candidates -> {self.out}"]
        if self.resumed_from:
            lines.append(f"  resumed: {self.resumed_from} rows were already done")
        for status in STATUSES:
            n = self.counts.get(status, 0)
            if n and status != "ok":
                lines.append(f"  {status:16s} {n:7d}  ({STATUSES[status]})")
        for name, path in self.reports.items():
            lines.append(f"  {name}: {path}")
        return "\n".join(lines)


def _fmt(value: float) -> str:
    return "" if not math.isfinite(value) else format(float(value), ".6g")


def work_paths(out: Path) -> tuple[Path, Path]:
    """``(OUT.partial, OUT.progress.json)``: the unranked rows so far and the progress record."""
    return out.with_name(out.name + ".partial"), out.with_name(out.name + ".progress.json")


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def output_columns(cands: CandidateList, score_columns: Sequence[str], *,
                   ranked: bool) -> tuple[list[str], list[str]]:
    """``(input columns as written, all output columns)``; clashing inputs get ``input_``."""
    ours = list(STATUS_COLUMNS) + ([RANK_COLUMN] if ranked else []) + list(score_columns)
    taken = {c.lower() for c in ours}
    inputs = []
    for c in cands.columns:
        name = c
        while name.lower() in taken:
            name = f"input_{name}"
        taken.add(name.lower())
        inputs.append(name)
    return inputs, inputs + ours


def _fingerprint(cands: CandidateList, committee, options: ScoreOptions,
                 survey_path: Path | None, columns: list[str]) -> dict[str, Any]:
    image = None
    if survey_path is not None:
        st = survey_path.stat()
        image = {"path": str(survey_path.resolve()), "size": st.st_size,
                 "mtime_ns": st.st_mtime_ns}
    return {"csv": {"path": str(cands.path.resolve()), "sha256": cands.sha256,
                    "rows": cands.n_rows},
            "image": image, "models": committee.fingerprint(),
            "mc_samples": options.mc_samples, "seed": options.seed,
            "tolerance": options.tolerance, "columns": columns}


def _resume_state(out: Path, fingerprint: dict[str, Any],
                  say: Callable[[str], None]) -> dict[str, Any] | None:
    partial, progress = work_paths(out)
    if not progress.exists():
        return None
    try:
        state = json.loads(progress.read_text(encoding="utf-8"))
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


def _open_committee(models, options: ScoreOptions):
    from lensfind.score.committee import Committee, load_member
    if isinstance(models, Committee):
        return models
    if isinstance(models, (str, os.PathLike)):
        models = [models]
    return Committee([load_member(p) for p in models], mc_samples=options.mc_samples,
                     batch_size=options.batch_size, seed=options.seed)


def score_candidates(candidates: str | Path, models, out: str | Path, *,
                     image: str | Path | None = None,
                     options: ScoreOptions | None = None,
                     say: Callable[[str], None] | None = None) -> ScoreResult:
    """Score every row of a candidate list with a committee of models (see the module doc).

    Args:
        candidates: the CSV list (see :mod:`lensfind.score.reader` for its columns).
        models: run directories (``runs/<experiment>/<run>``), or a loaded
            :class:`~lensfind.score.committee.Committee` (to score several lists without
            loading the models again; ``options`` set its passes, batch size and seed).
        out: the scores CSV to write (its folder is created).
        image: a survey FITS image with a celestial WCS: cut the cutouts at the rows'
            ``ra``/``dec`` instead of reading ``path`` files.
        options: run settings; defaults of :class:`ScoreOptions`.
        say: where notes go (default: stderr).

    Returns:
        A :class:`ScoreResult` with the status counts.

    Raises:
        CandidateListError: the list, or the survey image, is unusable (nothing is scored).
        ModelDirError: a model directory is not a usable lensfind run.
    """
    options = options or ScoreOptions()
    say = say or (lambda text: print(text, file=sys.stderr))
    out = Path(out)
    survey_path = Path(image) if image is not None else None
    if out.exists() and out.resolve() in {Path(candidates).resolve()} | (
            {survey_path.resolve()} if survey_path is not None else set()):
        raise CandidateListError(f"--out {out} is an input file; expected a new file name for "
                                 "the scores")
    cands = scan_candidates(candidates, id_column=options.id_column,
                            path_column=options.path_column, need_path=survey_path is None,
                            need_radec=survey_path is not None)
    survey = None
    if survey_path is not None:
        from lensfind.score.cutouts import SurveyImage
        survey = SurveyImage(survey_path)
    try:
        return _run(cands, survey, survey_path, models, out, options, say)
    finally:
        if survey is not None:
            survey.close()


def _run(cands: CandidateList, survey, survey_path: Path | None, models, out: Path,
         options: ScoreOptions, say: Callable[[str], None]) -> ScoreResult:
    committee = _open_committee(models, options)
    ranked = bool(committee.classifiers)
    score_cols = committee.columns()
    inputs, final_columns = output_columns(cands, score_cols, ranked=ranked)
    partial_columns = [c for c in final_columns if c != RANK_COLUMN or not ranked]
    fingerprint = _fingerprint(cands, committee, options, survey_path, final_columns)

    out.parent.mkdir(parents=True, exist_ok=True)
    partial, progress = work_paths(out)
    state = _resume_state(out, fingerprint, say)
    chunk_size, batch_size = options.chunk_size, options.batch_size
    if state is not None:
        start = state["rows_done"]
        counts = collections.Counter(state.get("counts", {}))
        if state.get("chunk_size", chunk_size) != chunk_size or \
                state.get("batch_size", batch_size) != batch_size:
            chunk_size, batch_size = state["chunk_size"], state["batch_size"]
            say(f"resuming with the unfinished run's --chunk-size {chunk_size} and "
                f"--batch-size {batch_size} so that its numbers are reproduced")
        with open(partial, "r+b") as fh:
            fh.truncate(state["bytes"])
            fh.flush()
            os.fsync(fh.fileno())
        if start:
            say(f"resuming {out}: {start} of {cands.n_rows} rows already done")
    else:
        start = 0
        counts = collections.Counter()
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(partial_columns)
        with open(partial, "wb") as fh:
            fh.write(buf.getvalue().encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())
        state = {"format": PROGRESS_FORMAT, "version": PROGRESS_VERSION,
                 "fingerprint": fingerprint, "chunk_size": chunk_size, "batch_size": batch_size,
                 "rows_done": 0, "bytes": partial.stat().st_size, "counts": {}}
        _write_json_atomic(progress, state)

    # one fixed forward-pass shape per run (no retracing; a chunk is never padded beyond itself)
    committee.configure(mc_samples=options.mc_samples, batch_size=min(batch_size, chunk_size),
                        seed=options.seed)
    loader = CutoutLoader(cands, committee.shape, options.tolerance, survey)
    t0 = time.perf_counter()
    bar = None
    if options.progress and start < cands.n_rows:
        from tqdm.auto import tqdm
        bar = tqdm(total=cands.n_rows, initial=start, unit="cutout", desc="score",
                   dynamic_ncols=True, file=sys.stderr)
    done = start
    chunk_index = start // chunk_size
    processes = None
    if start < cands.n_rows and options.reads_in_processes(survey is not None):
        processes = ProcessReader(options.workers, cands.base_dir, committee.shape,
                                  options.tolerance, slots=2 * chunk_size)
    try:
        with warnings.catch_warnings(), \
                ThreadPoolExecutor(max_workers=options.workers,
                                   thread_name_prefix="lensfind-read") as pool:
            warnings.simplefilter("ignore")
            with open(partial, "ab") as fh:
                for rows, fetch in prefetched(cands.chunks(chunk_size, start), pool,
                                              processes, loader):
                    loaded = fetch()
                    text = _score_chunk(rows, loaded, cands, committee, chunk_index, counts,
                                        score_cols, len(inputs),
                                        np.stack if processes is None else processes.stack)
                    fh.write(text.encode("utf-8"))
                    fh.flush()
                    os.fsync(fh.fileno())
                    done += len(rows)
                    chunk_index += 1
                    state.update(rows_done=done, bytes=fh.tell(), counts=dict(counts))
                    _write_json_atomic(progress, state)
                    if bar is not None:
                        bar.update(len(rows))
    finally:
        if bar is not None:
            bar.close()
        if processes is not None:
            processes.close()
    if done != cands.n_rows:  # the list changed under us
        raise RuntimeError(f"{cands.path}: read {done} rows, the scan found {cands.n_rows}; "
                           "was the file changed while scoring?")
    reports = _final_pass(out, partial, cands, final_columns, inputs, score_cols, ranked,
                          committee, loader, options)
    elapsed = time.perf_counter() - t0
    os.unlink(partial)
    os.unlink(progress)
    return ScoreResult(out=out, n_rows=cands.n_rows, counts=dict(counts), resumed_from=start,
                       scored_now=cands.n_rows - start, elapsed_s=elapsed, reports=reports)


def _score_chunk(rows: list[Row], loaded: list[RowResult],
                 cands: CandidateList, committee, chunk_index: int,
                 counts: collections.Counter, score_cols: list[str], n_inputs: int,
                 stack: Callable[[list], np.ndarray] = np.stack) -> str:
    """The CSV text of one chunk's output rows (input cells, status, reason, scores);
    ``stack`` makes the ok rows' images one array."""
    ok = [i for i, (img, status, _) in enumerate(loaded) if status == "ok"]
    scores: dict[str, np.ndarray] = {}
    if ok:
        images = stack([loaded[i][0] for i in ok])
        scores = committee.predict(images, chunk=chunk_index)
    position = {i: k for k, i in enumerate(ok)}
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    for i, (row, (_, status, reason)) in enumerate(zip(rows, loaded)):
        cells = list(row.cells[:n_inputs]) + [""] * max(0, n_inputs - len(row.cells))
        values = [""] * len(score_cols)
        if i in position:
            k = position[i]
            values = [_fmt(scores[c][k]) for c in score_cols]
            if "p_lens" in scores and not math.isfinite(float(scores["p_lens"][k])):
                status, reason = "error", "the model returned a non-finite score"
                values = [""] * len(score_cols)
        counts[status] += 1
        writer.writerow(cells + [status, reason] + values)
    return buf.getvalue()


def _final_pass(out: Path, partial: Path, cands: CandidateList, final_columns: list[str],
                inputs: list[str], score_cols: list[str], ranked: bool, committee,
                loader: CutoutLoader, options: ScoreOptions) -> dict[str, Path]:
    """Rank the ok rows by ``p_lens`` and write ``out``; then the reports (streaming)."""
    from lensfind.score import report
    n_in = len(inputs)
    status_at = n_in
    p_at = n_in + len(STATUS_COLUMNS) + score_cols.index("p_lens") if ranked else None
    ranks = None
    if ranked:
        scores = array("d")
        for cells in _partial_rows(partial):
            ok = cells[status_at] == "ok" and cells[p_at] != ""
            scores.append(float(cells[p_at]) if ok else math.nan)
        s = np.frombuffer(scores, dtype=np.float64)
        valid = np.flatnonzero(np.isfinite(s))
        order = valid[np.argsort(-s[valid], kind="stable")]
        ranks = np.zeros(len(s), dtype=np.int64)
        ranks[order] = np.arange(1, len(order) + 1)
        del scores, s
    grades = report.GradeAccumulator(committee, inputs, cands) if cands.grade_col is not None \
        and ranked else None
    top: list[tuple[int, list[str]]] = []
    tmp = out.with_name(f".{out.name}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(final_columns)
        for i, cells in enumerate(_partial_rows(partial)):
            if ranked:
                r = int(ranks[i])
                cells = cells[:n_in + 2] + [str(r) if r else ""] + cells[n_in + 2:]
                if 0 < r <= options.top:
                    top.append((r, cells))
            if grades is not None:
                grades.add(cells, final_columns)
            writer.writerow(cells)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    reports: dict[str, Path] = {}
    if grades is not None:
        reports.update(grades.write(out))
    if top:
        top.sort(key=lambda t: t[0])
        path = report.plot_top(top, final_columns, inputs, cands, loader,
                               out.with_name(out.stem + ".top.png"))
        if path is not None:
            reports["top-N grid"] = path
    return reports


def _partial_rows(partial: Path) -> Iterator[list[str]]:
    with open(partial, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        yield from reader
