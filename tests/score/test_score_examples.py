"""The shipped graded example list: valid, small, reproducible from its generator."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from lensfind.score.reader import load_cutout, row_problem, scan_candidates

EXAMPLES = Path(__file__).resolve().parents[2] / "data" / "examples"


def test_shipped_examples_are_a_valid_small_graded_list():
    cands = scan_candidates(EXAMPLES / "candidates.csv")
    assert cands.n_rows == 30 and cands.grade_col is not None
    grades = [cands.cell(r, cands.grade_col) for r in cands.rows()]
    assert {g: grades.count(g) for g in "ABC"} == {"A": 10, "B": 10, "C": 10}
    for row in cands.rows():
        assert row_problem(cands, row) is None
        image, note = load_cutout(cands.base_dir, cands.cell(row, cands.path_col), (100, 100))
        assert note == "" and image.dtype == np.float32 and np.isfinite(image).all()
    total = sum(p.stat().st_size for p in EXAMPLES.rglob("*") if p.is_file())
    assert total < 2 * 2**20


def test_generator_reproduces_the_shipped_files(tmp_path):
    from astropy.io import fits

    from lensfind.score.examples import make_examples
    path = make_examples(tmp_path)
    assert path.read_text() == (EXAMPLES / "candidates.csv").read_text()
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        new = fits.getdata(tmp_path / row["path"])
        old = fits.getdata(EXAMPLES / row["path"])
        np.testing.assert_allclose(
            new, old, rtol=1e-5, atol=1e-3,
            err_msg=f"{row['id']} differs: if the simulator changed on purpose, rerun "
                    "python -m lensfind.score.examples --out data/examples")
    # arcs were injected in A and B only
    assert {r["grade"] for r in rows if r["injected"] == "yes"} == {"A", "B"}
    assert all(r["theta_e"] == "" for r in rows if r["grade"] == "C")


@pytest.mark.parametrize("argv", [["score", "--help"]])
def test_cli_lists_the_score_command(argv, capsys):
    from lensfind.cli import main
    with pytest.raises(SystemExit) as err:
        main(argv)
    assert err.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--model", "--out", "--image", "--mc-samples", "--chunk-size", "--workers"):
        assert flag in out
