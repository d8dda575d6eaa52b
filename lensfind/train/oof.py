"""Out-of-fold predictions: ``fold_<k>/oof.csv``, one row per test image of the fold.

Columns: ``index`` (into the data set), ``system_id``, ``label``, ``kind``, then the task's
columns (:meth:`lensfind.tasks.base.Task.predict`), floats written with ``repr`` (round trip).
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from lensfind.files import atomic_write_text


def write_oof(path: Path, dataset, test: np.ndarray, columns: dict[str, np.ndarray]) -> None:
    """Write the rows of the test images ``test`` with the task's ``columns``."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = list(columns)
    w.writerow(["index", "system_id", "label", "kind", *names])
    for j, i in enumerate(test):
        w.writerow([int(i), int(dataset.system_id[i]), int(dataset.labels[i]),
                    str(dataset.kinds[i]),
                    *(repr(float(columns[n][j])) for n in names)])
    atomic_write_text(path, buf.getvalue())


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
