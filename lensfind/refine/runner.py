"""``lensfind refine``: refine every candidate of a table, resumably.

Everything is read and checked first (refusals name the row and field). Then each candidate is
refined (:func:`lensfind.refine.posterior.refine`) into ``OUT/<id>/``: ``samples.npz``,
``corner.png``, ``residuals.png`` and, written last and atomically, ``summary.json`` -- the
record that the candidate is done. A killed run started again skips the candidates with a
``summary.json`` and goes on (the output folder is locked by :func:`lensfind.score.lock.
output_lock` meanwhile). A candidate whose chains fail a diagnostic keeps its outputs and is
flagged with that diagnostic in the table (``OUT/refined.csv`` and ``.md``); one whose numerics
fail (a non-finite Hessian or energy) is flagged ``failed: ...`` without samples; the run goes on.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lensfind.files import read_json, write_json
from lensfind.refine import diagnostics, nuts, outputs
from lensfind.refine.candidates import read_candidates
from lensfind.refine.posterior import refine
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.refine.truth import read_truth
from lensfind.score.lock import output_lock


@dataclasses.dataclass(frozen=True)
class RefineOptions:
    """Regression member whose posterior starts the fit, table columns, sub-pixels per pixel,
    what lies beyond the cutouts' edges (:data:`~lensfind.refine.candidates.EDGES`), NUTS
    settings, convergence limits, mass matrix (see :data:`~lensfind.refine.posterior.
    MASS_MATRICES`) and an optional truth table (:mod:`lensfind.refine.truth`)."""

    member: str
    id_column: str = "id"
    path_column: str = "path"
    supersampling: int = 2
    edges: str = "sky"
    settings: nuts.NutsSettings = nuts.NutsSettings()
    limits: diagnostics.Limits = diagnostics.Limits()
    mass_matrix: str = "laplace"
    truth: str | Path | None = None


def refine_candidates(table: str | Path, out: str | Path, options: RefineOptions,
                      say: Callable[[str], None] = print) -> list[dict]:
    """Refine every row of ``table`` into ``out``; returns the table rows."""
    table, out = Path(table), Path(out)
    candidates = read_candidates(table, options.member, options.id_column, options.path_column,
                                 options.supersampling, options.edges)
    priors = []
    for c in candidates:
        prior = BoxPrior.from_bounds(default_bounds(c.observation.size
                                                    * c.observation.pixel_scale))
        prior.check_contains(c.network.names, c.network.mean, c.where)
        priors.append(prior)
    truths = {} if options.truth is None else read_truth(options.truth, options.id_column,
                                                         [c.id for c in candidates])
    rows = []
    with output_lock(out / "refined", say):
        for c, prior in zip(candidates, priors):
            folder = out / c.id
            done = folder / "summary.json"
            if done.is_file():
                rows.append(read_json(done))
                say(f"{c.id}: done before, kept")
                continue
            folder.mkdir(parents=True, exist_ok=True)
            try:
                refined = refine(c.image, c.observation, c.noise, c.network, prior,
                                 where=c.where, image_units=c.units, settings=options.settings,
                                 limits=options.limits, mass_matrix=options.mass_matrix)
            except (ArithmeticError, np.linalg.LinAlgError) as err:   # numerics: flag, go on
                row = {"id": c.id, "flag": f"failed: {type(err).__name__}: {err}"}
                write_json(done, row, fsync=True)
                rows.append(row)
                say(f"{c.id}: {row['flag']}")
                continue
            outputs.save_samples(folder / "samples.npz", refined)
            outputs.corner_plot(folder / "corner.png", refined, truths.get(c.id))
            outputs.residual_panel(folder / "residuals.png", c.image, refined, c.observation,
                                   c.noise)
            row = outputs.summary_row(c.id, refined, c.network, truths.get(c.id))
            write_json(done, row, fsync=True)
            rows.append(row)
            say(f"{c.id}: {refined.flag or 'converged'} "
                f"({sum(refined.seconds.values()):.1f} s)")
        outputs.write_table(out, rows)
    return rows
