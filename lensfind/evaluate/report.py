"""``lensfind evaluate``: a scores file measured against a truth file, as CSV, Markdown and PNG.

:func:`evaluate_scores` joins the two files (:mod:`lensfind.evaluate.labelled`) and writes into
``out``:

* ``evaluate.md`` -- every table below in one report, and ``evaluate.json`` (the numbers);
* lens finding (when the scores have ``p_lens`` and the truth a ``label``):
  ``finding.{csv,md}`` (:mod:`lensfind.evaluate.finding`), ``recall_<column>.csv`` per
  ``bins`` column, ``kind.csv`` / ``morphology.csv`` / ``grade.csv`` when the truth has those
  columns (non-lens kinds among the non-lenses, morphologies among the lenses, grades over all),
  ``roc.png`` and ``recall_bins.png``;
* parameters, per regression member of the scores (:mod:`lensfind.evaluate.parameters`) on the
  lenses whose truth has every predicted parameter: ``<member>_table1.{csv,md}`` (68 % errors),
  ``<member>_coverage.{csv,md}`` (1/2/3 sigma, chi2), ``<member>_calibration.json`` (with the
  median bias), ``<member>_pred_vs_true.png``, ``<member>_calibration.png``,
  ``<member>_chi2.png``;
* ``not_scored.csv`` -- the rows of the scores file that were not scored (id, status, reason).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.evaluate import regression_plots
from lensfind.evaluate.calibration import evaluate_regression, table1_rows, write_tables
from lensfind.evaluate.finding import (finding_metrics, group_table, metric_rows,
                                       recall_in_bins)
from lensfind.evaluate.labelled import LabelledSet, TruthError, join
from lensfind.evaluate.parameters import find_members, predictions
from lensfind.evaluate.plots import plot_recall_bins, plot_roc
from lensfind.files import atomic_write_text, csv_table, fmt, jsonable, markdown_table, write_json
from lensfind.sim.params import PARAMS

SCORE_COLUMN = "p_lens"
#: text columns summarised by group: role -> which rows (None: all, 0: non-lenses, 1: lenses)
GROUPS: dict[str, int | None] = {"kind": 0, "morphology": 1, "grade": None}
GROUP_TITLES = {"kind": "Non-lenses per kind (above = false-positive rate at p >= 0.5)",
                "morphology": "Lenses per morphology (above = recall at p >= 0.5)",
                "grade": "Per grade (cf. thesis Table 5-2)"}


@dataclasses.dataclass
class Evaluation:
    """What :func:`evaluate_scores` measured and wrote."""
    out: Path
    n_scored: int
    not_scored: list[tuple[str, str, str]]
    finding: dict[str, float] | None
    members: dict[str, dict[str, Any]]
    files: list[Path]

    def summary(self) -> str:
        lines = [f"evaluated {self.n_scored} scored rows; {len(self.not_scored)} not scored"
                 + (f" (listed in {self.out / 'not_scored.csv'})" if self.not_scored else "")]
        if self.finding:
            f = self.finding
            lines.append(f"lens finding: ROC AUC {fmt(f['roc_auc'])}, F1 {fmt(f['f1'])}, TPR0 "
                         f"{fmt(f['tpr_fpr0'])}, TPR(FPR<=1e-2) {fmt(f['tpr_fpr1e-2'])} "
                         f"({f['n_lenses']} lenses, {f['n_nonlenses']} non-lenses)")
        for member, m in self.members.items():
            cells = ", ".join(f"{t} {fmt(v['error68'], '.3g')}" for t, v in m.items()
                              if isinstance(v, dict) and "error68" in v)
            lines.append(f"{member}: 68 % errors {cells} ({m['n_images']} lenses)")
        lines.append(f"report: {self.out / 'evaluate.md'}")
        return "\n".join(lines)


def parse_bins(items: Sequence[str]) -> dict[str, list[float] | None]:
    """``["snr", "theta_e=0.5,1,1.5"]`` -> ``{"snr": None, "theta_e": [0.5, 1.0, 1.5]}``."""
    out: dict[str, list[float] | None] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not name.strip():
            raise TruthError(f"--bin {item!r} is invalid: expected COLUMN or COLUMN=E0,E1,...")
        edges = None
        if sep:
            try:
                edges = [float(t) for t in text.split(",")]
            except ValueError:
                raise TruthError(f"--bin {item!r} is invalid: expected COLUMN=E0,E1,... with "
                                 "numbers, e.g. snr=0,10,30,100,1e9") from None
        out[name.strip()] = edges
    return out


def _write(out: Path, name: str, header, rows, files: list[Path], *, md: bool = True) -> str:
    atomic_write_text(out / f"{name}.csv", csv_table(header, rows))
    files.append(out / f"{name}.csv")
    text = markdown_table(header, rows)
    if md:
        atomic_write_text(out / f"{name}.md", text)
        files.append(out / f"{name}.md")
    return text


def _finding(data: LabelledSet, score_column: str, bins: Mapping[str, list[float] | None],
             out: Path, files: list[Path], report: list[str]) -> dict[str, Any]:
    labels = data.labels()
    scores = data.scores[score_column]
    for value, what in ((1, "lenses (label 1)"), (0, "non-lenses (label 0)")):
        if not np.any(labels == value):
            raise TruthError(f"{data.truth.path}, column {data.names.get('label', 'label')!r}: "
                             f"no {what} among the {len(labels)} scored rows: ROC AUC and TPR "
                             "need lenses and non-lenses")
    metrics = finding_metrics(labels, scores)
    report += ["## Lens finding", "",
               _write(out, "finding", ["metric", "value", "note"], metric_rows(metrics), files)]
    panels = {}
    for column, edges in bins.items():
        values = data.numbers(column)
        _, rows = recall_in_bins(values, scores, labels, edges)
        panels[column] = rows
        header = [f"{column} from", "to", "lenses", "mean p", "recall (p >= 0.5)",
                  "recall (TPR0 threshold)"]
        table = [[fmt(r["lo"], ".4g", "(no value)"), fmt(r["hi"], ".4g", ""), r["n"],
                  fmt(r["mean_p"]), fmt(r["recall"]), fmt(r["recall_tpr0"])] for r in rows]
        report += [f"### Recall by {column}", "",
                   _write(out, f"recall_{column}", header, table, files, md=False)]
    groups = {}
    for role, which in GROUPS.items():
        if not data.has(role):
            continue
        keep = np.ones(len(labels), bool) if which is None else labels == which
        rows = group_table(data.text(role)[keep], scores[keep])
        groups[role] = rows
        header = [role, "n", "mean p", "std p", "above 0.5"]
        table = [[r["group"], r["n"], fmt(r["mean_p"]), fmt(r["std_p"]), fmt(r["above"])]
                 for r in rows]
        report += [f"### {GROUP_TITLES[role]}", "", _write(out, role, header, table, files,
                                                             md=False)]
    files.append(plot_roc({0: (labels, scores)}, out / "roc.png", names={0: "this set"},
                          title=f"{data.scores_path.name} against {data.truth.path.name}"))
    if panels:
        files.append(plot_recall_bins(panels, out / "recall_bins.png"))
    return {"metrics": metrics, "recall_bins": panels, "groups": groups}


def _parameters(data: LabelledSet, out: Path, files: list[Path],
                report: list[str]) -> dict[str, dict[str, Any]]:
    members = find_members(data.scores)
    if not members:
        return {}
    lens = data.labels() == 1 if data.has("label") else np.ones(len(data), bool)
    results = {}
    report += ["## Lens parameters", ""]
    for member, names in members.items():
        names = tuple(t for t in names if data.has(t))
        if not names:
            continue
        true = np.stack([data.numbers(t) for t in names], axis=1)
        mean, cov = predictions(data.scores, member, names)
        use = lens & np.isfinite(true).all(axis=1) & np.isfinite(mean).all(axis=1)
        if not use.any():
            continue
        rep = evaluate_regression(mean[use], cov[use], true[use], names=names)
        paths = write_tables(out, {member: rep}, stem=f"{member}_", paper=False)
        files += list(paths.values())
        header, rows = table1_rows({member: rep}, paper=False)
        rows.append(["median bias"] + [fmt(b, ".3g") for b in rep.bias])
        report += [f"### {member}: {int(use.sum())} lenses", "", "68 % errors:", "",
                   markdown_table(header, rows), "", "Coverage (%) and chi2:", "",
                   paths["coverage.md"].read_text()]
        units = {t: PARAMS[t][0] for t in names}
        sigma = np.sqrt(np.diagonal(cov[use], axis1=-2, axis2=-1))
        files += [
            regression_plots.plot_pred_vs_true(mean[use], sigma, true[use], names,
                                               out / f"{member}_pred_vs_true.png", units=units,
                                               title=f"{member} on {data.truth.path.name}"),
            regression_plots.plot_calibration_curve({member: rep},
                                                    out / f"{member}_calibration.png"),
            regression_plots.plot_chi2({member: rep}, out / f"{member}_chi2.png")]
        results[member] = rep.summary()
    return results


def evaluate_scores(scores: str | Path, truth: str | Path, out: str | Path | None = None, *,
                    columns: Mapping[str, str] | None = None, id_column: str = "id",
                    score_column: str = SCORE_COLUMN,
                    bins: Mapping[str, list[float] | None] | None = None) -> Evaluation:
    """Measure ``scores`` against ``truth`` and write the files of the module docstring.

    Args:
        out: output folder (default ``<scores stem>.evaluate`` beside the scores).
        columns: truth role or parameter name -> truth column (see :mod:`.labelled`).
        id_column: the scores' id column.
        score_column: the scores' lens probability column (higher = more lens-like).
        bins: truth column -> bin edges, or None for quintiles (recall in bins).
    """
    scores, truth = Path(scores), Path(truth)
    out = Path(out) if out is not None else scores.with_name(scores.stem + ".evaluate")
    data = join(scores, truth, columns=columns, id_column=id_column)
    finding_on = score_column in data.scores and data.has("label")
    if bins and not finding_on:
        raise TruthError(f"--bin needs a {score_column} column in {scores} and a label column in "
                         f"{truth}")
    if finding_on:   # rows scored without a lens probability are not scored for finding
        empty = ~np.isfinite(data.scores[score_column])
        if empty.any():
            data = join(scores, truth, columns=columns, id_column=id_column,
                        required=(score_column,))
    for column in bins or {}:
        if not data.has(column):
            raise TruthError(f"--bin {column}: {truth} has no column "
                             f"{data.names.get(column, column)!r} (columns: "
                             f"{', '.join(data.truth.columns)})")
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    report = [f"# {scores.name} against {truth.name}", "",
              f"{len(data)} scored rows; {len(data.not_scored)} not scored"
              + (" (`not_scored.csv`)." if data.not_scored else "."), ""]
    finding = (_finding(data, score_column, bins or {}, out, files, report) if finding_on
               else None)
    members = _parameters(data, out, files, report)
    if finding is None and not members:
        raise TruthError(f"{scores}: nothing to evaluate: expected a {score_column} column (with "
                         f"a label column in {truth}) or regression columns <member>_<param> and "
                         f"<member>_<param>_sigma whose parameter the truth has")
    _write(out, "not_scored", ["id", "status", "reason"], data.not_scored, files, md=False)
    if data.not_scored:
        report += ["## Not scored", "", markdown_table(["id", "status", "reason"],
                                                       data.not_scored[:50])]
        if len(data.not_scored) > 50:
            report.append(f"... and {len(data.not_scored) - 50} more in `not_scored.csv`.")
    atomic_write_text(out / "evaluate.md", "\n".join(report) + "\n")
    write_json(out / "evaluate.json", jsonable({
        "scores": str(scores), "truth": str(truth), "n_scored": len(data),
        "not_scored": [list(r) for r in data.not_scored],
        "finding": finding, "parameters": members}))
    files += [out / "evaluate.md", out / "evaluate.json"]
    return Evaluation(out=out, n_scored=len(data), not_scored=data.not_scored,
                      finding=None if finding is None else finding["metrics"],
                      members=members, files=files)

