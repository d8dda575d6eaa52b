"""Writing results safely and in one format: atomic files, JSON, CSV and Markdown tables, numbers.

Every file lensfind writes that another process (or a resumed run) may read goes through
:func:`atomic_path`: the content is written to a hidden temporary file in the same folder and
renamed over the target (``os.replace``), so a reader sees the old file or the new one, never half
of one, and a run killed mid-write leaves the previous version intact.

Tables are made from a header and rows of cells; :func:`fmt` turns numbers into cells with one
rule for missing values (``None``/NaN/inf -> ``missing``).
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The temporary name keeps the target's suffix (Keras and NumPy insist on ``.keras``, ``.npz``,
    ``.weights.h5``). On an exception the temporary file is removed and ``path`` is untouched.
    ``fsync``: flush the file to disk before the rename (journals that must survive a power cut).
    """
    path = Path(path)
    suffix = "".join(path.suffixes)
    base = path.name[:len(path.name) - len(suffix)] if suffix else path.name
    tmp = path.with_name(f".{base}.tmp{os.getpid()}{suffix}")
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str, *, fsync: bool = False) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _json_default(obj):
    import numpy as np
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON")


def write_json(path: str | Path, data: Any, *, sort_keys: bool = False,
               fsync: bool = False) -> None:
    """Write ``data`` as indented JSON atomically (NumPy scalars and arrays, paths allowed)."""
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=sort_keys,
                                       default=_json_default) + "\n", fsync=fsync)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy numbers made plain and non-finite floats made ``None`` (strict JSON)."""
    import numpy as np
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def fmt(value: Any, spec: str = ".3f", missing: str = "--") -> str:
    """One table cell: ``format(value, spec)``, or ``missing`` for None, NaN, inf and non-numbers.

    >>> fmt(0.98765), fmt(float("nan")), fmt(12345.678, ".6g", ""), fmt(None, missing="-")
    ('0.988', '--', '12345.7', '-')
    """
    if value is None or isinstance(value, bool):
        return missing
    try:
        number = float(value)
    except (TypeError, ValueError):
        return missing
    if not math.isfinite(number):
        return missing
    return format(value, spec)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
                   align: Sequence[str] | None = None) -> str:
    """A GitHub Markdown table; ``align`` per column: ``"---"`` (default), ``"---:"``, ...."""
    rule = list(align) if align is not None else ["---"] * len(header)
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """CSV text (``\\n`` line ends) of a header and rows."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()
