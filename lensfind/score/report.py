"""Reports of a scoring run: the grade table (thesis Table 5-2) and a PNG grid of the top N.

Grade table: when the candidate list has a ``grade`` column (e.g. A, B, C from visual
inspection), the lens probability of every ``ok`` row is summarised per grade and per model --
the mean and the standard deviation over the candidates of that grade, as in Table 5-2 of the
thesis ("Predictions on 92 candidates reported in LensFlow paper"). One model column per
``--model`` run (its fold committee, MC-dropout passes pooled) and, with more than one run, a
``committee`` column for all of them. Written next to the scores as ``<out>.grades.csv`` and
``<out>.grades.md``; statistics are accumulated while streaming (no row is held).

Top-N grid: the N best-ranked cutouts, each titled with its rank, id, ``p_lens +- std`` and
grade, displayed with lensfind's one asinh stretch (sky black; three bands as a Lupton RGB
composite, see :func:`lensfind.display.show`): ``<out>.top.png``.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lensfind.display import show
from lensfind.files import atomic_write_text, csv_table, markdown_table
from lensfind.score.rows import ScoreRow


def _grade_key(grade: str):
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", grade)]


class GradeAccumulator:
    """Running mean and standard deviation of each model's ``p_lens`` per grade (Welford).

    ``labels``: the labels of the committee's classifier members (they name the columns
    ``p_lens_<label>``); ``grade_column``: the grade's column as written in the scores.
    """

    def __init__(self, labels: Sequence[str], grade_column: str):
        self.grade_name = grade_column
        self.models: list[tuple[str, str]] = [(label, f"p_lens_{label}") for label in labels]
        if len(labels) > 1:
            self.models.append(("committee", "p_lens"))
        self.stats: dict[str, list[list[float]]] = {}  # grade -> per model [n, mean, m2]
        self.n_bad: dict[str, int] = {}

    def add(self, row: ScoreRow) -> None:
        grade = row.inputs[self.grade_name].strip() or "(none)"
        acc = self.stats.setdefault(grade, [[0, 0.0, 0.0] for _ in self.models])
        if row.status != "ok":
            self.n_bad[grade] = self.n_bad.get(grade, 0) + 1
            return
        for a, (_, column) in zip(acc, self.models):
            x = row.scores[column]
            if math.isnan(x):
                continue
            a[0] += 1
            delta = x - a[1]
            a[1] += delta / a[0]
            a[2] += delta * (x - a[1])

    def table(self) -> tuple[list[str], list[list[str]]]:
        """``(header, rows)`` of the grade table (numbers as text, 3 decimals)."""
        header = [self.grade_name, "n", "not scored"]
        for label, _ in self.models:
            header += [f"{label} mean", f"{label} std"]
        rows = []
        for grade in sorted(self.stats, key=_grade_key):
            acc = self.stats[grade]
            n = max((a[0] for a in acc), default=0)
            row = [grade, str(n), str(self.n_bad.get(grade, 0))]
            for a in acc:
                if a[0] == 0:
                    row += ["", ""]
                else:
                    std = math.sqrt(a[2] / (a[0] - 1)) if a[0] > 1 else 0.0
                    row += [f"{a[1]:.3f}", f"{std:.3f}"]
            rows.append(row)
        return header, rows

    def write(self, out: Path) -> dict[str, Path]:
        """Write ``<out stem>.grades.csv`` and ``.grades.md``; returns their paths."""
        header, rows = self.table()
        csv_path = out.with_name(out.stem + ".grades.csv")
        md_path = out.with_name(out.stem + ".grades.md")
        atomic_write_text(csv_path, csv_table(header, rows))
        atomic_write_text(md_path, grade_markdown(header, rows))
        return {"grade table (CSV)": csv_path, "grade table (Markdown)": md_path}


def grade_markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The grade table as Markdown, with a caption saying what the numbers are."""
    caption = ("Predicted lens probability per grade: mean and standard deviation over the "
               "candidates of each grade (cf. thesis Table 5-2).")
    align = ["---"] + ["---:"] * (len(header) - 1)
    return caption + "\n\n" + markdown_table(header, rows, align=align)


def plot_top(top: Sequence[tuple[int, ScoreRow]], image: Callable[[ScoreRow], np.ndarray],
             path: Path, *, id_column: str, grade_column: str | None = None) -> Path | None:
    """PNG grid of the top-ranked rows' cutouts, ``[(rank, row)]`` in rank order.

    ``image(row)`` reads a row's cutout again (rows whose cutout cannot be read are left out);
    panels are titled with the rank, the ``id_column`` cell, ``p_lens +- p_lens_std`` and the
    ``grade_column`` cell. Returns ``path``, or None when no panel was left.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    for rank, row in top:
        try:
            picture = image(row)
        except Exception:
            continue
        p, std = row.scores["p_lens"], row.scores["p_lens_std"]
        std = 0.0 if math.isnan(std) else std
        title = f"#{rank} {row.inputs[id_column]}\np = {p:.3f} ± {std:.3f}"
        if grade_column is not None and row.inputs[grade_column].strip():
            title += f"  [{row.inputs[grade_column].strip()}]"
        panels.append((picture, title))
    if not panels:
        return None
    ncol = min(len(panels), 4 if len(panels) <= 16 else 6)
    nrow = math.ceil(len(panels) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.6 * ncol, 3.0 * nrow + 0.3), squeeze=False,
                             layout="constrained")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (picture, title) in zip(axes.ravel(), panels):
        ax.imshow(show(picture), origin="lower", cmap="gray", vmin=0, vmax=1,
                  interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"Top {len(panels)} candidates by lens probability (mean ± std over models "
                 "and MC-dropout passes)", fontsize=10)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
