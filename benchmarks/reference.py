"""The CPU reference result of issue #17 (``make reference``): one lens finder and one
lens-parameter regressor, trained on lensfind's images and measured on them and on an
independent set made by lenstronomy, against fixed targets.

Steps (each resumes: a finished stage is reused, a killed one continues):

1. ``lensfind cv experiments/reference-find.toml --fold 0`` and the same for
   ``reference-regress.toml`` (one fold of five each; the fold's test images are the "own" set);
2. ``benchmarks/lenstronomy_checkset.py``: ``--n-check`` cutouts rendered by lenstronomy (half
   lenses), scored by both runs with MC dropout (``--mc-samples``) and evaluated
   (``lensfind evaluate``), and scored again by the regressor with ``--recalibrate``
   (per-parameter sigma factors from its validation split);
3. ``reference.{md,csv,json}`` in ``--out``: every target, the measured value on the own test fold
   and on the lenstronomy set, and whether it is met; with the per-parameter regression table.

Targets (issue #17): own ROC AUC >= 0.99; lenstronomy set ROC AUC >= 0.98, TPR0 >= 0.5 and no lens
of arc S/N > 100 scored below p = 0.5; theta_E 68 % error <= 0.05" and |median bias| <= 0.02";
e1, e2 68 % errors <= 0.05; every parameter's coverage within 3 points of 68.3 / 95.4 / 99.7 %,
on both sets.

    python benchmarks/reference.py --runs-dir runs --out runs/reference
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lenstronomy_checkset import write_checkset  # noqa: E402

FIND, REGRESS = "experiments/reference-find.toml", "experiments/reference-regress.toml"
RUN_NAME = "reference"          # run directory name under <runs>/<experiment>/
NOMINAL = {1: 0.683, 2: 0.954, 3: 0.997}
COVERAGE_POINTS = 0.03
BRIGHT_SNR = 100.0


def train(toml: str, runs: Path) -> Path:
    """Fold 0 of ``toml`` in ``<runs>/<experiment>/reference``; returns the run directory."""
    from lensfind.config import load_experiment
    from lensfind.train.cv import run_cv
    from lensfind.train.summary import aggregate

    exp = load_experiment(toml)
    run_dir = runs / exp.name / RUN_NAME
    run_cv(exp, folds=[0], run_dir=run_dir)
    aggregate(run_dir, progress=False)
    return run_dir


def own_regression(run_dir: Path) -> tuple[dict, dict]:
    """The regressor's test-fold predictions against the truth (MC-dropout mean and covariance),
    as predicted and with the per-parameter sigma factors fitted on the fold's validation split
    (what ``lensfind score --recalibrate`` applies)."""
    from lensfind.evaluate.calibration import evaluate_regression, scale_sigmas
    from lensfind.tasks.regress import fold_sigma_scales, load_fold_predictions

    test, true, _, _ = load_fold_predictions(run_dir / "fold_0")
    scaled = scale_sigmas(test.covariance, fold_sigma_scales(run_dir / "fold_0"))
    return tuple(evaluate_regression(test.mean, cov, true, names=test.names).summary()
                 for cov in (test.covariance, scaled))


def cross_simulator(find_run: Path, regress_run: Path, out: Path, n: int, mc_samples: int,
                    floor: float):
    """Render (once), score and evaluate the lenstronomy set; ``(evaluation, evaluation of the
    recalibrated regressor, bright misses, finding on the lenses above the training S/N
    floor)``."""
    from lensfind.evaluate.report import evaluate_scores
    from lensfind.score.runner import ScoreOptions, score_candidates

    folder = out / "checkset"
    candidates, truth = folder / "candidates.csv", folder / "truth.csv"
    if not truth.is_file():
        write_checkset(folder, n, seed=0)
    scores = folder / "scores.csv"
    score_candidates(candidates, [find_run, regress_run], scores,
                     options=ScoreOptions(mc_samples=mc_samples, progress=False))
    evaluation = evaluate_scores(scores, truth, folder / "evaluate",
                                 bins={"snr": None, "theta_e": None, "contrast": None,
                                       "psf_fwhm": None})
    recalibrated = folder / "scores-recalibrated.csv"
    score_candidates(candidates, [regress_run], recalibrated,
                     options=ScoreOptions(mc_samples=mc_samples, progress=False,
                                          recalibrate=True))
    evaluation_recal = evaluate_scores(recalibrated, truth, folder / "evaluate-recalibrated")
    return (evaluation, evaluation_recal, bright_misses(scores, truth),
            above_floor(scores, truth, floor))


def _scored_truth(scores: Path, truth: Path) -> list[tuple[str, int, float, float]]:
    """``(id, label, arc S/N or NaN, p_lens)`` of every scored row of the truth."""
    with open(scores, newline="", encoding="utf-8") as fh:
        p = {r["id"]: float(r["p_lens"]) for r in csv.DictReader(fh) if r.get("p_lens")}
    with open(truth, newline="", encoding="utf-8") as fh:
        return [(r["id"], int(r["label"]), float(r["snr"] or "nan"), p[r["id"]])
                for r in csv.DictReader(fh) if r["id"] in p]


def bright_misses(scores: Path, truth: Path) -> list[tuple[str, float, float]]:
    """``(id, arc S/N, p_lens)`` of the lenses with S/N > 100 scored below 0.5."""
    return [(i, snr, p) for i, label, snr, p in _scored_truth(scores, truth)
            if label == 1 and snr > BRIGHT_SNR and p < 0.5]


def above_floor(scores: Path, truth: Path, floor: float) -> dict[str, float]:
    """ROC AUC and TPR0 of the lenses with arc S/N >= ``floor`` against every non-lens."""
    from lensfind.evaluate.metrics import roc_auc, tpr_at_fpr

    rows = [(label, p) for _, label, snr, p in _scored_truth(scores, truth)
            if label == 0 or snr >= floor]
    labels, p = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    return {"roc_auc": roc_auc(labels, p), "tpr_fpr0": tpr_at_fpr(labels, p, 0.0),
            "n_lenses": int(labels.sum())}


def _member(evaluation) -> dict:
    return next(m for m in evaluation.members.values() if "theta_e" in m)


def targets(find_summary: dict, own: dict, evaluation, misses, floored=None,
            floor: float = 0.0, own_recal: dict | None = None,
            evaluation_recal=None) -> list[list]:
    """Rows ``[target, goal, own, lenstronomy set, met]`` (``floored``: the finding metrics of
    the lenstronomy lenses at or above the training set's S/N ``floor``, shown for reference;
    ``own_recal`` / ``evaluation_recal``: the regressor with ``--recalibrate``, whose coverage
    rows follow those as predicted)."""
    finding = evaluation.finding
    cross = _member(evaluation)
    rows = [
        ["ROC AUC", ">= 0.99 own, >= 0.98 lenstronomy",
         find_summary["metrics"]["roc_auc"]["mean"], finding["roc_auc"],
         find_summary["metrics"]["roc_auc"]["mean"] >= 0.99 and finding["roc_auc"] >= 0.98],
        ["TPR0 (lenstronomy set)", ">= 0.5", find_summary["metrics"].get("tpr_fpr0", {})
         .get("mean", float("nan")), finding["tpr_fpr0"], finding["tpr_fpr0"] >= 0.5],
        [f"lenses with arc S/N > {BRIGHT_SNR:.0f} below p = 0.5", "none", "--", len(misses),
         not misses],
    ]
    if floored:
        rows.append([f"(ROC AUC / TPR0, lenses with S/N >= {floor:g}, the training floor)",
                     "--", "--", f"{floored['roc_auc']:.3f} / {floored['tpr_fpr0']:.3f} "
                     f"({floored['n_lenses']} lenses)", "--"])
    for name, goal, key, limit in (("theta_e", "<= 0.05\"", "error68", 0.05),
                                   ("theta_e", "abs(bias) <= 0.02\"", "bias", 0.02),
                                   ("e1", "<= 0.05", "error68", 0.05),
                                   ("e2", "<= 0.05", "error68", 0.05)):
        a, b = own[name][key], cross[name][key]
        label = f"{name} {'68 % error' if key == 'error68' else 'median bias'}"
        rows.append([label, goal, a, b, abs(a) <= limit and abs(b) <= limit])
    sets = [("", own, cross)]
    if own_recal is not None and evaluation_recal is not None:
        sets.append((", recalibrated", own_recal, _member(evaluation_recal)))
    for tag, own_set, cross_set in sets:
        for name in own_set:
            if not isinstance(own_set[name], dict) or "coverage_1sigma" not in own_set[name] \
                    or name == "average":
                continue
            cells = []
            met = True
            for data in (own_set[name], cross_set.get(name, {})):
                values = [data.get(f"coverage_{k}sigma", float("nan")) for k in NOMINAL]
                met &= all(abs(v - NOMINAL[k]) <= COVERAGE_POINTS
                           for v, k in zip(values, NOMINAL))
                cells.append(" / ".join(f"{100 * v:.1f}" for v in values))
            rows.append([f"{name} coverage 1/2/3 sigma (%){tag}", "68.3 / 95.4 / 99.7 +- 3",
                         *cells, met])
    return rows


def _cell(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def write_report(out: Path, rows: list[list], timings: dict[str, float], misses) -> str:
    from lensfind.files import atomic_write_text, markdown_table, write_json

    header = ["target", "goal", "own test fold", "lenstronomy set", "met"]
    md = ["# Reference result (issue #17)", "",
          markdown_table(header, [[_cell(c) for c in r] for r in rows]), "",
          "Wall time (s): " + ", ".join(f"{k} {v:.0f}" for k, v in timings.items()), ""]
    if misses:
        md += [f"Lenses with arc S/N > {BRIGHT_SNR:.0f} scored below 0.5: "
               + ", ".join(f"{i} (S/N {s:.0f}, p {p:.2f})" for i, s, p in misses), ""]
    text = "\n".join(md)
    atomic_write_text(out / "reference.md", text)
    with open(out / "reference.csv", "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header] + rows)
    write_json(out / "reference.json", {"rows": rows, "seconds": timings,
                                        "bright_misses": misses})
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", default="runs", help="root of the run directories")
    parser.add_argument("--out", default="runs/reference", help="folder of the report")
    parser.add_argument("--n-check", type=int, default=800,
                        help="cutouts of the lenstronomy set (default 800, half lenses)")
    parser.add_argument("--mc-samples", type=int, default=20,
                        help="MC-dropout passes when scoring the lenstronomy set")
    args = parser.parse_args(argv)
    runs, out = Path(args.runs_dir), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    find_run = train(FIND, runs)
    timings["find"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    regress_run = train(REGRESS, runs)
    timings["regress"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    from lensfind.config import load_experiment
    from lensfind.files import read_json
    floor = load_experiment(FIND).simulation.source.min_snr
    evaluation, evaluation_recal, misses, floored = cross_simulator(
        find_run, regress_run, out, args.n_check, args.mc_samples, floor)
    timings["lenstronomy set"] = time.perf_counter() - t0
    own, own_recal = own_regression(regress_run)
    rows = targets(read_json(find_run / "summary.json"), own, evaluation, misses,
                   floored if floor > 0 else None, floor, own_recal, evaluation_recal)
    print(write_report(out, rows, timings, misses))
    print(f"report: {out / 'reference.md'}; lenstronomy set: {evaluation.out / 'evaluate.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
