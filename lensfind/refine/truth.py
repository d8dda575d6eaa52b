"""Known parameters of simulated candidates (``lensfind refine --truth``): drawn into the corner
plots and written beside the posterior in the table.

A truth table is a CSV with the candidates' id column and any of the forward model's parameter
columns (:data:`~lensfind.refine.forward.NAMES`, e.g. a simulated set's ``index.csv``); empty
cells (a non-lens row) are unknown. Every candidate must have a row.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lensfind.refine.forward import NAMES
from lensfind.validation import fail


def read_truth(path: str | Path, id_column: str, ids) -> dict[str, np.ndarray]:
    """id -> parameter vector ``(P,)`` (NAMES order, NaN where the table has no value) for each
    of ``ids``; refused, naming the file, line, field and value, before any work."""
    path = Path(path)
    if not path.is_file():
        fail("--truth", str(path), "an existing CSV file")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames or []
        if id_column not in header:
            fail(f"{path}: id column", id_column, f"one of the columns {header}")
        columns = [name for name in NAMES if name in header]
        if not columns:
            fail(f"{path}: parameter columns", header,
                 f"at least one of the forward model's parameters {list(NAMES)}")
        rows = {}
        for line, row in enumerate(reader, start=2):
            values = np.full(len(NAMES), np.nan)
            for name in columns:
                cell = (row[name] or "").strip()
                if not cell:
                    continue
                try:
                    values[NAMES.index(name)] = float(cell)
                except ValueError:
                    fail(f"{path} line {line}: {name}", cell, "a number or an empty cell")
            rows[row[id_column]] = values
    missing = [i for i in ids if i not in rows]
    if missing:
        fail(f"{path}: ids of the candidates", missing[:5],
             f"a truth row for every candidate ({len(missing)} missing)")
    return {i: rows[i] for i in ids}
