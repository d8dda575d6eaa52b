"""Score a candidate list in chunks: bounded memory, parallel reads, progress, resume after a kill.

How a run proceeds (:func:`score_candidates`):

1. The options, the output's suffix and the list as a whole
   (:func:`~lensfind.score.reader.scan_candidates`) are checked, ``OUT.lock`` is taken and the
   stack or tiles opened: those refusals come before any model is loaded. Then the models are
   loaded, a stack's cutout size checked against theirs and the output columns fixed
   (:class:`~lensfind.score.rows.RowFormat`).
2. Rows are read ``chunk_size`` at a time. While the models score one chunk, ``workers``
   threads or processes (``readers``; :mod:`lensfind.score.prefetch`,
   :mod:`lensfind.score.read_pool`) already read the next chunk's files, so at most two chunks
   of cutouts are in memory whatever the list's length. Bad rows get a status and a reason and
   are skipped by the models (:data:`~lensfind.score.reader.STATUSES`).
3. Each scored chunk is appended to ``OUT.partial`` and flushed to disk (``fsync``); only then
   does ``OUT.progress.json`` (replaced atomically) record how many rows and bytes are done
   (:mod:`lensfind.score.journal`).
4. When all rows are in, a final pass ranks the ``ok`` rows by ``p_lens`` (1 = most lens-like;
   ties keep the list's order) and writes ``OUT`` (via a temporary name, then renamed); the
   work files are removed, and the grade table and top-N grid are written
   (:mod:`lensfind.score.ranking`, :mod:`lensfind.score.report`).

Cutouts come from the list's files, a stack (``stack``) or survey tiles (``image``,
``tile_list``): :mod:`lensfind.score.sources`; for models of several bands, every band of each
row (:mod:`lensfind.score.bands`), the list and source checked against the models' bands
before any model is loaded. ``OUT``'s suffix chooses its format
(:mod:`lensfind.score.outputs`); ``OUT.lock`` keeps a second run off the same output
(:mod:`lensfind.score.lock`); ``shard = "K/N"`` scores one part of the list, merged by
:func:`merge_scores` (:mod:`lensfind.score.shards`).

Resume: starting the same command again after a kill reads ``OUT.progress.json``; if the
candidate list (its SHA-256), the cutout source (stack or tiles), the model files and the
settings that change numbers are the same, ``OUT.partial`` is cut back to the recorded length
and scoring goes on from the next unscored row -- rows already written are not scored again,
and the final file equals an uninterrupted run's. Anything else starts afresh (and says why).
The chunk and batch sizes of the unfinished run are kept so the numbers match.
"""
from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from lensfind.score.committee import Committee, common_bands, load_member, run_bands
from lensfind.score.journal import Journal, run_fingerprint
from lensfind.score.lock import output_lock
from lensfind.score.outputs import check_output
from lensfind.score.prefetch import CutoutLoader, prefetched
from lensfind.score.ranking import finish
from lensfind.score.read_pool import ProcessReader, RowResult
from lensfind.score.reader import (
    STATUSES,
    CandidateList,
    CandidateListError,
    Row,
    scan_candidates,
)
from lensfind.score.rows import RowFormat, ScoreRow
from lensfind.score.shards import Shard, merge_shards, read_record, write_record
from lensfind.score.sources import FileSource, open_source
from lensfind.validation import check_range, fail

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
        id_column, path_column, index_column: names of the id, path and stack-index columns.
        shard: ``"K/N"``: score part K of N (:mod:`lensfind.score.shards`); None: all rows.
        recalibrate: scale every regression member's error bars by its per-parameter factors
            fitted on its folds' validation splits (``--recalibrate``; see
            :func:`lensfind.evaluate.calibration.fit_sigma_scales`).
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
    index_column: str = "index"
    shard: str | None = None
    recalibrate: bool = False

    def __post_init__(self):
        for name in ("mc_samples", "chunk_size", "workers", "batch_size", "seed", "top"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                fail(f"--{name.replace('_', '-')}", value, "an integer")
        check_range("--mc-samples", self.mc_samples, 1)
        if not isinstance(self.recalibrate, bool):
            fail("--recalibrate", self.recalibrate, "true or false")
        check_range("--chunk-size", self.chunk_size, 1)
        check_range("--workers", self.workers, 1, 256)
        check_range("--batch-size", self.batch_size, 1)
        check_range("--seed", self.seed, 0)
        check_range("--top", self.top, 0, 1000)
        check_range("--tolerance", self.tolerance, 0.0, 0.5)
        if self.readers not in READERS:
            fail("--readers", self.readers, f"one of {', '.join(READERS)}")
        if self.shard is not None:
            Shard.parse(self.shard)

    @property
    def part(self) -> Shard | None:
        """The shard to score, or None for the whole list."""
        return None if self.shard is None else Shard.parse(self.shard)

    def reads_in_processes(self, files: bool) -> bool:
        """Whether cutouts are read by worker processes (files only: a stack or tiles are read
        in threads)."""
        if not files or self.readers == "threads":
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


def _open_committee(models, options: ScoreOptions):
    if isinstance(models, Committee):
        return models
    if isinstance(models, (str, os.PathLike)):
        models = [models]
    return Committee([load_member(p) for p in models], mc_samples=options.mc_samples,
                     batch_size=options.batch_size, seed=options.seed,
                     recalibrate=options.recalibrate)


def _model_bands(models) -> tuple[str, ...]:
    """The bands the models take, from their experiment files (no model is loaded)."""
    if isinstance(models, Committee):
        return models.bands
    dirs = [Path(models)] if isinstance(models, (str, os.PathLike)) else [Path(p) for p in models]
    known = [(d, b) for d in dirs if (b := run_bands(d)) is not None]
    return common_bands([b for _, b in known], [d for d, _ in known])


def _resolved_tile(spec: str | Path, banded: bool) -> str:
    """A tile (or ``BAND=TILE`` spec) with its path made absolute."""
    band, _, path = str(spec).partition("=") if banded else ("", "", str(spec))
    return f"{band}={Path(path).resolve()}" if banded else str(Path(path).resolve())


def _scan(candidates: str | Path, id_column: str, path_column: str, index_column: str, *,
          stack: bool, tiles: bool, bands: tuple[str, ...] | list[str]) -> CandidateList:
    """The list, checked for the columns its cutout source needs (path, index, or ra/dec)."""
    return scan_candidates(candidates, id_column=id_column, path_column=path_column,
                           need_path=not stack and not tiles, need_radec=tiles,
                           index_column=index_column if stack else None, bands=bands)


def score_candidates(candidates: str | Path, models, out: str | Path, *,
                     image: str | Path | list | None = None,
                     stack: str | Path | None = None,
                     tile_list: str | Path | None = None,
                     options: ScoreOptions | None = None,
                     say: Callable[[str], None] | None = None) -> ScoreResult:
    """Score every row of a candidate list with a committee of models (see the module doc).

    Args:
        candidates: the list: CSV, FITS or ECSV table (see :mod:`lensfind.score.reader`).
        models: run directories (``runs/<experiment>/<run>``), or a loaded
            :class:`~lensfind.score.committee.Committee` (to score several lists without
            loading the models again; ``options`` set its passes, batch size and seed).
        out: the scores file to write (its folder is created); ``.csv``, ``.fits``, ``.ecsv``
            or ``.parquet``.
        image: survey tiles (one FITS file or a list) with a celestial WCS: cut the cutouts at
            the rows' ``ra``/``dec`` instead of reading ``path`` files; for models of several
            bands, ``BAND=TILE`` for each (:mod:`lensfind.score.bands`).
        stack: an HDF5 or FITS stack of cutouts (``FILE.h5:DATASET`` names a dataset): read
            row ``i``'s cutout at its ``index`` cell (:mod:`lensfind.score.stacks`).
        tile_list: a text file of survey tiles, one per line (added to ``image``).
        options: run settings; defaults of :class:`ScoreOptions`.
        say: where notes go (default: stderr).

    Returns:
        A :class:`ScoreResult` with the status counts (of the shard, with ``options.shard``).

    Raises:
        CandidateListError: the list, the stack or the tiles are unusable (nothing is scored).
        ConfigError: a bad option or ``out`` suffix.
        OutputLocked: another run is writing ``out``.
        ModelDirError: a model directory is not a usable lensfind run.
    """
    options = options or ScoreOptions()
    say = say or (lambda text: print(text, file=sys.stderr))
    out = Path(out)
    suffix = check_output(out)
    tiles = [Path(p) for p in ([image] if isinstance(image, (str, os.PathLike)) else
                               list(image or []))]
    if stack is not None and (tiles or tile_list is not None):
        fail("--stack", str(stack), "either a stack or survey tiles (--image, --tile-list), "
             "not both")
    inputs = {Path(candidates)} | set(tiles) | ({Path(stack)} if stack is not None else set())
    if out.exists() and out.resolve() in {p.resolve() for p in inputs if p.exists()}:
        raise CandidateListError(f"--out {out} is an input file; expected a new file name for "
                                 "the scores")
    bands = _model_bands(models)
    cands = _scan(candidates, options.id_column, options.path_column, options.index_column,
                  stack=stack is not None, tiles=bool(tiles) or tile_list is not None,
                  bands=bands)
    part = options.part
    target = part.path(out) if part is not None else out
    with output_lock(target, say):
        source = open_source(cands, options.tolerance, stack=stack, tiles=tiles,
                             tile_list=tile_list, bands=bands, say=say)
        try:
            committee = _open_committee(models, options)
            source.fit(committee.shape)
            return _run(cands, source, committee, out, suffix, part,
                        _setup(cands, stack, tiles, tile_list, options, committee), options,
                        say)
        finally:
            source.close()


def _setup(cands: CandidateList, stack, tiles: list[Path], tile_list, options: ScoreOptions,
           committee) -> dict:
    """What a merge of this run's shards needs to open its list and source again."""
    return {"candidates": str(cands.path.resolve()),
            "stack": stack and str(Path(stack).resolve()),
            "tiles": [_resolved_tile(p, bool(committee.bands)) for p in tiles],
            "tile_list": tile_list and str(Path(tile_list).resolve()),
            "id_column": options.id_column, "path_column": options.path_column,
            "index_column": options.index_column, "tolerance": options.tolerance,
            "shape": list(committee.shape), "bands": list(committee.bands),
            "labels": [m.label for m in committee.classifiers]}


def merge_scores(out: str | Path, *, top: int = 16,
                 say: Callable[[str], None] | None = None) -> ScoreResult:
    """Merge the finished shards of ``out`` into ``out`` as one run would write it
    (:func:`lensfind.score.shards.merge_shards`); the models are not loaded.

    Raises:
        ShardError: a shard is missing or unfinished, or the shards are not one run's.
        OutputLocked: another run or merge is writing ``out``.
    """
    say = say or (lambda text: print(text, file=sys.stderr))
    out = Path(out)
    check_range("--top", top, 0, 1000)
    check_output(out)

    def open_run(setup):
        bands = setup.get("bands", [])
        cands = _scan(setup["candidates"], setup["id_column"], setup["path_column"],
                      setup["index_column"], stack=bool(setup["stack"]),
                      tiles=bool(setup["tiles"]) or setup["tile_list"] is not None, bands=bands)
        source = open_source(cands, setup["tolerance"], stack=setup["stack"],
                             tiles=setup["tiles"], tile_list=setup["tile_list"], bands=bands,
                             say=say)
        try:
            source.fit(setup["shape"])
        except Exception:
            source.close()
            raise
        return cands, CutoutLoader(cands, source), source.close

    t0 = time.perf_counter()
    with output_lock(out, say):
        counts, reports, n_rows = merge_shards(out, top, open_run, say)
    return ScoreResult(out=out, n_rows=n_rows, counts=counts, resumed_from=0, scored_now=0,
                       elapsed_s=time.perf_counter() - t0, reports=reports)


def _run(cands: CandidateList, source, committee, out: Path, suffix: str, part: Shard | None,
         setup: dict, options: ScoreOptions, say: Callable[[str], None]) -> ScoreResult:
    final = RowFormat.for_list(cands.columns, committee.columns(),
                               rank=bool(committee.classifiers))
    fingerprint = run_fingerprint(
        cands, source.fingerprint(), committee.fingerprint(), mc_samples=options.mc_samples,
        seed=options.seed, tolerance=options.tolerance, columns=final.columns)
    target = out if part is None else part.path(out)
    if part is not None:
        done = read_record(part, out)
        if done is not None and done["fingerprint"] == fingerprint:
            say(f"{target}: shard {part.k}/{part.n} is already done")
            return ScoreResult(out=target, n_rows=done["rows"][1] - done["rows"][0],
                               counts=done["counts"], resumed_from=0, scored_now=0,
                               elapsed_s=0.0, reports={"shard record": part.record_path(out)})
        fingerprint = {**fingerprint, "shard": [part.k, part.n]}

    target.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal.start(target, final.without_rank(), fingerprint,
                            chunk_size=options.chunk_size, batch_size=options.batch_size,
                            n_rows=cands.n_rows, say=say)
    chunk_size = journal.chunk_size
    first, stop = (0, cands.n_rows) if part is None else part.rows(cands.n_rows, chunk_size)
    start = first + journal.resumed_from

    # one fixed forward-pass shape per run (no retracing; a chunk is never padded beyond itself)
    committee.configure(mc_samples=options.mc_samples,
                        batch_size=min(journal.batch_size, chunk_size), seed=options.seed)
    loader = CutoutLoader(cands, source)
    t0 = time.perf_counter()
    bar = None
    if options.progress and start < stop:
        from tqdm.auto import tqdm
        bar = tqdm(total=stop - first, initial=start - first, unit="cutout", desc="score",
                   dynamic_ncols=True, file=sys.stderr)
    chunk_index = start // chunk_size
    processes = None
    if start < stop and options.reads_in_processes(isinstance(source, FileSource)):
        processes = ProcessReader(options.workers, cands.base_dir, committee.shape,
                                  options.tolerance, slots=2 * chunk_size)
    try:
        with warnings.catch_warnings(), \
                ThreadPoolExecutor(max_workers=options.workers,
                                   thread_name_prefix="lensfind-read") as pool:
            warnings.simplefilter("ignore")
            with journal:
                for rows, fetch in prefetched(cands.chunks(chunk_size, start, stop), pool,
                                              processes, loader):
                    journal.append(_score_chunk(
                        rows, fetch(), committee, chunk_index, final,
                        np.stack if processes is None else processes.stack))
                    chunk_index += 1
                    if bar is not None:
                        bar.update(len(rows))
    finally:
        if bar is not None:
            bar.close()
        if processes is not None:
            processes.close()
    if journal.rows_done != stop - first:  # the list changed under us
        raise RuntimeError(f"{cands.path}: read {first + journal.rows_done} rows, the scan "
                           f"found {cands.n_rows}; was the file changed while scoring?")
    if part is not None:
        os.replace(journal.partial, target)
        setup = {**setup, "inputs": list(final.inputs), "scores": list(final.scores),
                 "rank": final.rank}
        record = write_record(part, out, {"fingerprint": {k: v for k, v in fingerprint.items()
                                                          if k != "shard"},
                                          "rows": [first, stop], "counts": dict(journal.counts),
                                          "setup": setup})
        os.unlink(journal.progress)
        reports = {"shard record": record}
    else:
        reports = finish(out, journal, final, cands, setup["labels"], loader, options.top,
                         suffix)
        journal.remove()
    return ScoreResult(out=target, n_rows=stop - first, counts=dict(journal.counts),
                       resumed_from=start - first, scored_now=stop - start,
                       elapsed_s=time.perf_counter() - t0, reports=reports)


def _score_chunk(rows: list[Row], loaded: list[RowResult], committee, chunk_index: int,
                 row_format: RowFormat,
                 stack: Callable[[list], np.ndarray] = np.stack) -> list[ScoreRow]:
    """One chunk's output rows: the committee scores the rows read as ``ok``; a non-finite
    ``p_lens`` turns a row into an ``error``. ``stack`` makes the ok rows' images one array."""
    ok = [i for i, (_, status, _) in enumerate(loaded) if status == "ok"]
    scores: dict[str, np.ndarray] = {}
    if ok:
        scores = committee.predict(stack([loaded[i][0] for i in ok]), chunk=chunk_index)
    position = {i: k for k, i in enumerate(ok)}
    out = []
    for i, (row, (_, status, reason)) in enumerate(zip(rows, loaded)):
        values: dict[str, float] = {}
        if i in position:
            k = position[i]
            values = {c: float(scores[c][k]) for c in row_format.scores}
            if "p_lens" in scores and not math.isfinite(float(scores["p_lens"][k])):
                status, reason = "error", "the model returned a non-finite score"
                values = {}
        out.append(ScoreRow(inputs=row_format.inputs_of(row.cells), status=status,
                            reason=reason, scores=values))
    return out
