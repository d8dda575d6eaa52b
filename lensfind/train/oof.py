"""Out-of-fold predictions: ``fold_<k>/oof.csv``, one row per test image of the fold.

Columns: ``index`` (into the data set), ``system_id``, ``label``, ``kind``, then the task's
columns (:meth:`lensfind.tasks.base.Task.predict`), floats written with ``repr`` (round trip).
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lensfind.files import atomic_write_text, csv_table


def write_oof(path: Path, dataset, test: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Write the rows of the test images ``test`` with the task's ``columns``."""
    names = list(columns)
    rows = [[int(i), int(dataset.system_id[i]), int(dataset.labels[i]), str(dataset.kinds[i]),
             *(repr(float(columns[n][j])) for n in names)] for j, i in enumerate(test)]
    atomic_write_text(path, csv_table(["index", "system_id", "label", "kind", *names], rows))


def read_oof(path: Path) -> dict[str, np.ndarray]:
    """``oof.csv`` as columns (numbers as arrays, ``kind`` as strings)."""
    with Path(path).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in rows[0]:
        values = [r[key] for r in rows]
        if key == "kind":
            out[key] = np.asarray(values, dtype=str)
        elif key in ("index", "system_id", "label"):
            out[key] = np.asarray(values, dtype=np.int64)
        else:
            out[key] = np.asarray(values, dtype=np.float64)
    return out
