"""lensfind.files: atomic writes leave the old file or the new one, tables and cells."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lensfind.files import (atomic_path, atomic_write_text, csv_table, fmt, jsonable,
                            markdown_table, read_json, write_json)


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.weights.h5"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            assert tmp.parent == tmp_path and tmp.name.endswith(".weights.h5")
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.weights.h5"]
    atomic_write_text(target, "new", fsync=True)
    assert target.read_text() == "new" and len(list(tmp_path.iterdir())) == 1


def test_json_round_trip_with_numpy_values(tmp_path):
    path = tmp_path / "x.json"
    write_json(path, {"a": np.float32(1.5), "b": np.arange(3), "c": tmp_path})
    assert read_json(path) == {"a": 1.5, "b": [0, 1, 2], "c": str(tmp_path)}
    assert jsonable({"x": [np.float64(math.nan), np.int64(2)]}) == {"x": [None, 2]}


def test_cells_and_tables():
    assert fmt(0.12345) == "0.123" and fmt(np.float64(2.0), ".4f") == "2.0000"
    assert [fmt(v) for v in (None, math.nan, math.inf, "text", True)] == ["--"] * 5
    assert fmt(math.nan, ".6g", "") == ""
    assert markdown_table(["a", "b"], [[1, 2]], align=["---", "---:"]) == \
        "| a | b |\n|---|---:|\n| 1 | 2 |\n"
    assert csv_table(["a", "b"], [[1, "x,y"]]) == 'a,b\n1,"x,y"\n'
