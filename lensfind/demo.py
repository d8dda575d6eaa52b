"""``lensfind demo``: every capability once, on CPU-sized settings, into one output folder.

Stages run in order; each reuses what the previous ones left (the simulated set, the trained
runs), and each is resumable because the pieces it calls are (cached sets, run directories,
Optuna's study database, the scorer's partial output). Sizes are chosen to finish in a few
minutes on a 2-core laptop CPU; the experiment files in ``experiments/`` hold the GPU sizes.
"""
from __future__ import annotations

import csv
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lensfind.config import load_experiment
from lensfind.data.build import load_dataset
from lensfind.data.fits import export_fits
from lensfind.data.gallery import plot_gallery
from lensfind.data.substructure_gallery import plot_substructure_variants
from lensfind.evaluate.report import evaluate_scores
from lensfind.files import atomic_write_text, csv_table
from lensfind.refine.candidates import write_cutout
from lensfind.refine.diagnostics import Limits
from lensfind.refine.nuts import NutsSettings
from lensfind.refine.runner import RefineOptions, refine_candidates
from lensfind.score.runner import ScoreOptions, score_candidates
from lensfind.sim.simulate import substructure_variants
from lensfind.train.cv import run_cv
from lensfind.tune.run import format_summary, tune_demo

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
EXAMPLES = ROOT / "data" / "examples" / "candidates.csv"
#: refine stage: central crop [pixels] of the 0.05"/pixel held-out cutouts (2.0" across), the
#: largest regression Einstein radius [arcsec] refined in it, the NUTS run per candidate, and
#: the convergence limits: no pixel-integration check, since the model integrates pixels as the
#: simulator drew them (its supersampling; lensfind.refine.integration)
REFINE_CROP = 40
REFINE_MAX_THETA_E = 0.6
REFINE_NUTS = NutsSettings(chains=2, warmup=100, draws=150, seed=0)
REFINE_LIMITS = Limits(integration_chi2_max=float("inf"))


@dataclasses.dataclass
class DemoState:
    """What the stages share: the output folder and what earlier stages produced."""
    out: Path
    results: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def runs(self) -> Path:
        return self.out / "runs"


def _banner(text: str) -> None:
    print(f"\n{'=' * 78}\n{text}\n{'=' * 78}", flush=True)


def stage_simulate(state: DemoState) -> list[str]:
    """Simulate the lens-finding set and draw a gallery of lenses and non-lenses."""
    exp = load_experiment(EXPERIMENTS / "demo-find.toml")
    dataset = load_dataset(exp, cache_dir=state.out / "data")
    gallery = plot_gallery(dataset, state.out / "gallery.png", n_per_class=8)
    state.results["find"] = (exp, dataset)
    return [f"{len(dataset)} cutouts ({dataset.n_lenses} lenses) in {dataset.path}",
            f"gallery: {gallery}"]


def stage_colour(state: DemoState) -> list[str]:
    """Simulate LSST-like g, r, i cutouts (cv-lensflow-gri's [small] set) and draw them in
    colour."""
    exp = load_experiment(EXPERIMENTS / "cv-lensflow-gri.toml", small=True)
    dataset = load_dataset(exp, cache_dir=state.out / "data")
    gallery = plot_gallery(dataset, state.out / "gallery_gri.png", n_per_class=8)
    return [f"{len(dataset)} cutouts in bands {', '.join(dataset.bands)} in {dataset.path}",
            f"colour gallery: {gallery}"]


def stage_find(state: DemoState) -> list[str]:
    """3-fold cross-validation of lens finding; Table 5-1 layout and ROC curves."""
    exp, dataset = state.results["find"]
    result = run_cv(exp, runs_root=state.runs, dataset=dataset)
    state.results["find_run"] = result.run_dir
    return [f"run: {result.run_dir}", f"table: {result.run_dir / 'summary.md'}",
            f"ROC curves: {result.run_dir / 'plots' / 'roc.png'}"]


def stage_regress(state: DemoState) -> list[str]:
    """Lens parameters with a full-covariance head and MC dropout; calibration plot."""
    exp = load_experiment(EXPERIMENTS / "demo-regress.toml")
    dataset = load_dataset(exp, cache_dir=state.out / "data")
    result = run_cv(exp, runs_root=state.runs, dataset=dataset)
    state.results["regress_run"] = result.run_dir
    state.results["regress_member"] = exp.experiment.name
    plots = sorted((result.run_dir / "plots").glob("*.png"))
    return [f"run: {result.run_dir}", f"table: {result.run_dir / 'summary.md'}"] + [
        f"plot: {p}" for p in plots]


def stage_substructure(state: DemoState) -> list[str]:
    """Dark-matter substructure: one lens and source per row, as no_sub, cdm (subhalos) and
    axion (a vortex), with the residuals against the smooth lens."""
    exp = load_experiment(EXPERIMENTS / "cv-substructure.toml", small=True)
    systems = [substructure_variants(exp.simulation, seed=exp.seed + i, noise=False)
               for i in range(3)]
    gallery = plot_substructure_variants(
        systems, state.out / "substructure_gallery.png",
        title="one lens and source per row: each class, and its residual against no_sub")
    return [f"gallery: {gallery}"]


def stage_tune(state: DemoState) -> list[str]:
    """Three Optuna trials over the dropout rates, in an SQLite study the dashboard opens."""
    exp, dataset = state.results["find"]
    summary = tune_demo(state.out, exp=load_experiment(EXPERIMENTS / "demo-tune.toml"),
                        dataset=dataset, n_trials=3)
    print(format_summary(summary), flush=True)
    return [f"best: {summary['best']}",
            f"watch it: make dashboard STORAGE={summary['storage']}"]


def stage_score(state: DemoState) -> list[str]:
    """Score the shipped graded candidate list with the trained committees, and part of the
    simulated set straight from its HDF5 stack."""
    models = [state.results["find_run"], state.results["regress_run"]]
    out = state.out / "scores" / "candidates.csv"
    result = score_candidates(EXAMPLES, models, out, options=ScoreOptions(mc_samples=5))
    print(result.summary(), flush=True)
    grades = out.with_suffix(".grades.md")
    print(grades.read_text(), flush=True)
    stack_lines = _score_stack(state)
    return [f"scores: {out}", f"grade table: {grades}",
            f"top candidates: {out.with_suffix('.top.png')}"] + stack_lines


def _score_stack(state: DemoState, every: int = 4) -> list[str]:
    """Every ``every``-th cutout of the simulated set, read from its HDF5 stack by a catalogue
    of indices (graded by kind), scored by the lens-finding run into an ECSV table."""
    _, dataset = state.results["find"]
    folder = state.out / "scores"
    folder.mkdir(parents=True, exist_ok=True)
    catalogue = folder / "simulated-catalogue.csv"
    rows = [[f"sim{i:04d}", str(i), str(dataset.kinds[i])]
            for i in range(0, len(dataset), every)]
    atomic_write_text(catalogue, csv_table(["id", "index", "grade"], rows))
    out = folder / "simulated.ecsv"
    result = score_candidates(catalogue, [state.results["find_run"]], out,
                              stack=f"{dataset.path}:images",
                              options=ScoreOptions(progress=False))
    print(result.summary(), flush=True)
    print(out.with_suffix(".grades.md").read_text(), flush=True)
    return [f"stack: {len(rows)} simulated cutouts from {dataset.path} -> {out}",
            f"grade table by kind: {out.with_suffix('.grades.md')}"]


def stage_evaluate(state: DemoState) -> list[str]:
    """Score 200 new cutouts of the find stage's mix (another seed) with both runs and evaluate
    them against their truth (the export's index.csv), recall binned by S/N and theta_E."""
    exp, _ = state.results["find"]
    held = exp.replace(experiment={"seed": exp.seed + 1000},
                       simulation={"n_lenses": 100, "n_nonlenses": 100})
    index = export_fits(load_dataset(held, cache_dir=state.out / "data"), state.out / "heldout")
    scores = state.out / "scores" / "heldout.csv"
    score_candidates(index, [state.results["find_run"], state.results["regress_run"]], scores,
                     options=ScoreOptions(mc_samples=5, top=0, progress=False))
    result = evaluate_scores(scores, index, scores.with_suffix(".evaluate"),
                             bins={"snr": None, "theta_e": None})
    print(result.summary(), flush=True)
    return [f"report: {result.out / 'evaluate.md'}", f"ROC: {result.out / 'roc.png'}",
            f"recall by S/N and theta_E: {result.out / 'recall_bins.png'}"]


def stage_refine(state: DemoState) -> list[str]:
    """HMC posteriors under the physical model (SIE + shear, Sersic source and light) for the two
    held-out lenses the regression run scored with the highest p_lens whose Einstein radius fits
    a 2" crop: corner plot, data / model / residual panel, posterior table. The model renders
    light beyond the crop's edges (``edges="sky"``) and integrates pixels as the simulation."""
    exp, _ = state.results["find"]
    folder = state.out / "refine"
    table = _refine_table(state.out / "scores" / "heldout.csv", state.out / "heldout", folder,
                          state.results["regress_member"], exp.simulation.noise.read_noise)
    options = RefineOptions(member=state.results["regress_member"], settings=REFINE_NUTS,
                            supersampling=exp.simulation.supersampling, limits=REFINE_LIMITS,
                            truth=state.out / "heldout" / "index.csv")
    rows = refine_candidates(table, folder, options)
    lines = [f"{r['id']} ({r['flag'] or 'converged'}): corner {folder / r['id'] / 'corner.png'}, "
             f"data / model / residuals {folder / r['id'] / 'residuals.png'}" for r in rows]
    return lines + [f"posterior table: {folder / 'refined.csv'}, {folder / 'refined.md'}"]


def _refine_table(scores: Path, index_folder: Path, folder: Path, member: str,
                  read_noise: float, n: int = 2) -> Path:
    """The ``n`` lenses of ``scores`` with the highest p_lens and ``member``'s Einstein radius
    <= REFINE_MAX_THETA_E, cropped to REFINE_CROP pixels into refine-ready cutouts (the
    simulation's PSF FWHM, sky [e-/pixel] and ``read_noise`` [e-]); their score rows in a table."""
    with open(scores, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.DictReader(fh) if r["status"] == "ok" and r["kind"] == "lens"
                and float(r[f"{member}_theta_e"]) <= REFINE_MAX_THETA_E]
    rows = sorted(rows, key=lambda r: -float(r["p_lens"]))[:n]
    from astropy.io import fits
    for row in rows:
        with fits.open(index_folder / row["path"]) as hdus:
            image, scale = hdus[0].data, float(hdus[0].header["PIXSCALE"])
        lo = (image.shape[0] - REFINE_CROP) // 2
        crop = image[lo:lo + REFINE_CROP, lo:lo + REFINE_CROP]
        row["path"] = f"cutouts/{row['id']}.fits"
        write_cutout(folder / row["path"], crop, scale, float(row["psf_fwhm"]),
                     float(row["sky"]), read_noise)
    table = folder / "candidates.csv"
    atomic_write_text(table, csv_table(list(rows[0]), [list(r.values()) for r in rows]))
    return table


STAGES: dict[str, Callable[[DemoState], list[str]]] = {
    "simulate": stage_simulate,
    "colour": stage_colour,
    "find": stage_find,
    "regress": stage_regress,
    "substructure": stage_substructure,
    "tune": stage_tune,
    "score": stage_score,
    "evaluate": stage_evaluate,
    "refine": stage_refine,
}


def run_demo(out: str | Path = "demo-output") -> dict[str, list[str]]:
    """Run every stage; returns the lines each stage reported."""
    state = DemoState(Path(out))
    state.out.mkdir(parents=True, exist_ok=True)
    report: dict[str, list[str]] = {}
    start = time.perf_counter()
    for name, stage in STAGES.items():
        _banner(f"lensfind demo [{name}]: {stage.__doc__}")
        t0 = time.perf_counter()
        report[name] = stage(state) + [f"({time.perf_counter() - t0:.0f} s)"]
    _banner(f"lensfind demo finished in {time.perf_counter() - start:.0f} s; "
            f"outputs in {state.out}")
    for name, lines in report.items():
        print(f"{name}:")
        for line in lines:
            print(f"  {line}")
    return report
