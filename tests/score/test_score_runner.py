"""Scoring runs end to end with real (tiny, untrained) run directories."""
from __future__ import annotations

import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from .score_helpers import (
    SIZE, bad_files, blob, good_list, make_run, read_rows, write_fits, write_list)
from lensfind.score.committee import ModelDirError
from lensfind.score.reader import CandidateListError
from lensfind.score.journal import work_paths
from lensfind.score.runner import ScoreOptions, score_candidates

REPO = Path(__file__).resolve().parents[2]
QUIET = ScoreOptions(progress=False, chunk_size=8)


def _score(lst, runs, out, **kw):
    opts = ScoreOptions(**{**QUIET.__dict__, **kw})
    return score_candidates(lst, runs, out, options=opts, say=lambda _: None)


def test_bad_rows_never_stop_the_run_and_each_gets_status_and_reason(tmp_path, cls_run):
    cases = bad_files(tmp_path)
    rows = [[f"bad-{k}", rel, "C"] for k, (rel, _, _) in enumerate(cases.values())]
    write_fits(tmp_path / "good.fits", blob(SIZE, 10))
    write_fits(tmp_path / "big.fits", blob(SIZE + 3, 11))
    write_fits(tmp_path / "small.fits2", blob(SIZE - 2, 12))
    rows += [["g1", "good.fits", "A"], ["g2", "big.fits", "A"], ["g3", "small.fits2", "B"],
             ["g1", "good.fits", "A"],  # repeated id
             ["", "good.fits", "B"],  # empty id
             ["g4", "good.fits", "B", "surplus"]]  # malformed
    lst = write_list(tmp_path / "list.csv", ["id", "path", "grade"], rows)
    result = _score(lst, [cls_run], tmp_path / "out" / "scores.csv")
    out = read_rows(result.out)
    assert [r["id"] for r in out] == [r[0] for r in rows]  # every row, in order
    expected = [status for _, status, _ in cases.values()] + [
        "ok", "ok", "ok", "duplicate_id", "empty_id", "malformed_row"]
    assert [r["status"] for r in out] == expected
    for r, (name, (_, status, text)) in zip(out, cases.items()):
        assert text in r["reason"], (name, r["reason"])
        assert r["p_lens"] == r["rank"] == ""
    ok = [r for r in out if r["status"] == "ok"]
    assert sorted(int(r["rank"]) for r in ok) == [1, 2, 3]
    assert all(0.0 <= float(r["p_lens"]) <= 1.0 for r in ok)
    assert "centre-cropped from 43x43" in out[len(cases) + 1]["reason"]
    assert "padded with the border median" in out[len(cases) + 2]["reason"]
    assert f"'g1' already appeared on line {len(cases) + 2}" in out[len(cases) + 3]["reason"]
    counts = result.counts
    assert counts["ok"] == 3 and counts["unreadable"] == 8 and counts["duplicate_id"] == 1
    assert sum(counts.values()) == len(rows)
    summary = result.summary()
    assert "scored 3 of 21 candidates" in summary
    assert "missing_file" in summary and "non_finite" in summary
    assert not any(p.exists() for p in work_paths(result.out))


def test_process_readers_write_the_same_file_as_threads(tmp_path, cls_committee, monkeypatch):
    from lensfind.score import read_pool
    monkeypatch.setattr(read_pool, "BLOCK_ROWS", 3)  # several blocks per chunk of 8
    cases = bad_files(tmp_path)
    rows = [[f"bad-{k}", rel, "C"] for k, (rel, _, _) in enumerate(cases.values())]
    for k in range(7):
        write_fits(tmp_path / f"g{k}.fits", blob(SIZE + (k % 3) - 1, 20 + k))
        rows.append([f"g{k}", f"g{k}.fits", "AB"[k % 2]])
    rows += [["g1", "g1.fits", "A"], ["g9", "g2.fits", "A", "surplus"]]
    lst = write_list(tmp_path / "list.csv", ["id", "path", "grade"], rows)
    files = {}
    for readers in ("threads", "processes"):
        result = _score(lst, cls_committee, tmp_path / readers / "scores.csv", readers=readers,
                        workers=2)
        files[readers] = result.out.read_bytes()
        assert result.counts["ok"] == 7
    assert files["processes"] == files["threads"]


def test_readers_option_is_checked_and_auto_follows_the_core_count(monkeypatch):
    with pytest.raises(ValueError, match="--readers = 'gpu' is invalid: expected one of auto, "
                                         "threads, processes"):
        ScoreOptions(readers="gpu")
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert ScoreOptions().reads_in_processes(files=True)
    assert not ScoreOptions().reads_in_processes(files=False)  # a stack or tiles: threads
    assert not ScoreOptions(readers="threads").reads_in_processes(files=True)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert not ScoreOptions().reads_in_processes(files=True)
    assert ScoreOptions(readers="processes").reads_in_processes(files=True)


def test_input_columns_pass_through_unchanged_and_clashes_are_renamed(tmp_path, cls_committee):
    (tmp_path / "c").mkdir()
    write_fits(tmp_path / "c" / "a.fits", blob(SIZE, 1))
    write_fits(tmp_path / "c" / "b.fits", blob(SIZE, 2))
    lst = write_list(tmp_path / "list.csv",
                     ["Comment", "id", "status", "path", "rank", "z"],
                     [['say "hi", twice', "a", "old", "c/a.fits", "7", "0.5"],
                      ["ünïcode\nnewline", "b", "", "c/b.fits", "", ""]])
    result = _score(lst, cls_committee, tmp_path / "s.csv", top=0)
    with open(result.out, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        body = list(reader)
    assert header[:6] == ["Comment", "id", "input_status", "path", "input_rank", "z"]
    assert header[6:9] == ["status", "reason", "rank"]
    assert body[0][:6] == ['say "hi", twice', "a", "old", "c/a.fits", "7", "0.5"]
    assert body[1][:6] == ["ünïcode\nnewline", "b", "", "c/b.fits", "", ""]
    assert "top-N grid" not in result.reports


def test_grade_table_and_top_grid(tmp_path, cls_run):
    other = make_run(tmp_path / "runs", "other", folds=1, seed=7)
    lst = good_list(tmp_path / "data", 14)
    result = _score(lst, [cls_run, other], tmp_path / "out" / "scores.csv", top=5)
    out = read_rows(result.out)
    assert {"p_lens", "p_lens_std", "p_lens_cls", "p_lens_std_cls", "p_lens_other"} <= set(out[0])
    # the committee pools all three fold models: its mean is the fold-weighted member mean
    for r in out:
        pooled = (2 * float(r["p_lens_cls"]) + float(r["p_lens_other"])) / 3
        assert abs(float(r["p_lens"]) - pooled) < 2e-6
    table = read_rows(result.reports["grade table (CSV)"])
    assert [t["grade"] for t in table] == ["A", "B", "C"]
    for t in table:
        for label, col in (("cls", "p_lens_cls"), ("other", "p_lens_other"),
                           ("committee", "p_lens")):
            vals = [float(r[col]) for r in out if r["grade"] == t["grade"]]
            assert int(t["n"]) == len(vals)
            assert float(t[f"{label} mean"]) == pytest.approx(np.mean(vals), abs=6e-4)
            assert float(t[f"{label} std"]) == pytest.approx(np.std(vals, ddof=1), abs=6e-4)
    md = result.reports["grade table (Markdown)"].read_text()
    assert "| grade | n | not scored | cls mean | cls std | other mean" in md
    png = result.reports["top-N grid"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_runs_give_parameters_sigma_and_covariance(tmp_path, reg_run, cls_run):
    lst = good_list(tmp_path / "data", 6)
    result = _score(lst, [reg_run], tmp_path / "r.csv", mc_samples=3)
    out = read_rows(result.out)
    assert "rank" not in out[0] and "p_lens" not in out[0]  # nothing to rank by
    for r in out:
        for t in ("theta_e", "e1"):
            sigma = float(r[f"reg_{t}_sigma"])
            assert sigma > 0
            assert float(r[f"reg_cov_{t}_{t}"]) == pytest.approx(sigma ** 2, rel=1e-4)
        assert math.isfinite(float(r["reg_cov_theta_e_e1"]))
    both = read_rows(_score(lst, [cls_run, reg_run], tmp_path / "b.csv").out)
    assert {"rank", "p_lens", "reg_theta_e", "reg_e1_sigma"} <= set(both[0])


def test_mc_dropout_is_reproducible_and_seeded(tmp_path, cls_committee):
    lst = good_list(tmp_path / "data", 10)
    a = read_rows(_score(lst, cls_committee, tmp_path / "a.csv", mc_samples=4, top=0).out)
    b = read_rows(_score(lst, cls_committee, tmp_path / "b.csv", mc_samples=4, top=0,
                         workers=1).out)
    c = read_rows(_score(lst, cls_committee, tmp_path / "c.csv", mc_samples=4, top=0,
                         seed=1).out)
    d = read_rows(_score(lst, cls_committee, tmp_path / "d.csv", top=0).out)
    assert a == b
    assert [r["p_lens"] for r in a] != [r["p_lens"] for r in c]
    # one deterministic pass: the spread is the fold committee's alone
    assert [r["p_lens"] for r in d] != [r["p_lens"] for r in a]
    assert d == read_rows(_score(lst, cls_committee, tmp_path / "e.csv", top=0, seed=5).out)
    # a model without dropout (rate 0, as LensFlow's table) is sampled fine: no spread
    plain = make_run(tmp_path / "runs", "nodrop", folds=1, dropout=0.0)
    f = read_rows(_score(lst, [plain], tmp_path / "f.csv", mc_samples=3, top=0).out)
    assert all(float(r["p_lens_std"]) == 0.0 for r in f)


def test_refusals_come_first_and_name_what_was_expected(tmp_path, cls_run):
    lst = good_list(tmp_path / "data", 2)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CandidateListError, match="is empty"):  # before any model is loaded
        _score(empty, [tmp_path / "not-a-run"], tmp_path / "x.csv")
    (tmp_path / "plain").mkdir()
    with pytest.raises(ModelDirError, match="plain is not a lensfind run directory"):
        _score(lst, [tmp_path / "plain"], tmp_path / "x.csv")
    with pytest.raises(ModelDirError, match="no such directory"):
        _score(lst, [tmp_path / "missing"], tmp_path / "x.csv")
    unfinished = make_run(tmp_path / "runs", "unfinished", folds=0)
    with pytest.raises(ModelDirError, match="no fold has a model.keras yet"):
        _score(lst, [unfinished], tmp_path / "x.csv")
    with pytest.raises(CandidateListError, match="is an input file"):
        _score(lst, [cls_run], lst)
    with pytest.raises(ValueError, match="--mc-samples = 0 is invalid"):
        ScoreOptions(mc_samples=0)
    assert not (tmp_path / "x.csv").exists()
    # the CLI turns refusals into a message and exit status 2
    bad = tmp_path / "bad.csv"
    bad.write_text("name,file\nx,y\n")
    proc = subprocess.run([sys.executable, "-m", "lensfind.cli", "score", str(bad), "--model",
                           str(cls_run), "--out", str(tmp_path / "y.csv")],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 2
    assert "lensfind score: error:" in proc.stderr
    assert "missing required column(s) id, path; found name, file" in proc.stderr


def test_survey_image_mode_cuts_with_wcs(tmp_path, cls_committee):
    from astropy.io import fits
    from astropy.wcs import WCS
    rng = np.random.default_rng(0)
    data = rng.normal(10, 1, (300, 260)).astype(np.float32)
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [130.5, 150.5]
    w.wcs.cdelt = [-0.05 / 3600, 0.05 / 3600]
    fits.PrimaryHDU(data, header=w.to_header()).writeto(tmp_path / "survey.fits")
    x, y = 100.0, 80.0  # 0-based pixel of the first candidate
    ra, dec = w.wcs_pix2world([[x, y]], 0)[0]
    far_ra, far_dec = w.wcs_pix2world([[5000.0, 5000.0]], 0)[0]
    edge_ra, edge_dec = w.wcs_pix2world([[3.0, 150.0]], 0)[0]
    lst = write_list(tmp_path / "sky.csv", ["id", "ra", "dec", "grade"], [
        ["in", f"{ra:.9f}", f"{dec:.9f}", "A"], ["far", far_ra, far_dec, "B"],
        ["edge", edge_ra, edge_dec, "B"], ["text", "ten", "2", "C"], ["nodec", ra, "", "C"],
        ["pole", ra, "91", "C"]])
    opts = ScoreOptions(progress=False, chunk_size=4)
    result = score_candidates(lst, cls_committee, tmp_path / "sky_scores.csv", image=tmp_path /
                              "survey.fits", options=opts, say=lambda _: None)
    out = read_rows(result.out)
    assert [r["status"] for r in out] == ["ok", "off_image", "off_image", "bad_coordinates",
                                          "bad_coordinates", "bad_coordinates"]
    assert "outside the 260x300 image" in out[1]["reason"]
    assert "sticks out" in out[2]["reason"]
    # the same cutout as a file gives the same score
    from astropy.nddata import Cutout2D
    write_fits(tmp_path / "in.fits", Cutout2D(data, (x, y), (SIZE, SIZE)).data)
    lst2 = write_list(tmp_path / "file.csv", ["id", "path"], [["in", "in.fits"]])
    ref = read_rows(_score(lst2, cls_committee, tmp_path / "file_scores.csv").out)
    assert ref[0]["p_lens"] == out[0]["p_lens"]
    with pytest.raises(CandidateListError, match="no 2-D image with a celestial WCS"):
        write_fits(tmp_path / "nowcs.fits", data)
        score_candidates(lst, cls_committee, tmp_path / "z.csv", image=tmp_path / "nowcs.fits",
                         options=opts)


# ----------------------------------------------------------------------------- kill + resume

def test_resume_after_a_crash_and_restart_when_the_list_changed(tmp_path, cls_committee,
                                                                  monkeypatch):
    lst = good_list(tmp_path / "data", 30)
    ref = _score(lst, cls_committee, tmp_path / "ref.csv", chunk_size=4, top=0)
    out = tmp_path / "s.csv"
    real = type(cls_committee).predict
    calls = []

    def crash(self, images, *, chunk=0):
        calls.append(chunk)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, images, chunk=chunk)

    monkeypatch.setattr(type(cls_committee), "predict", crash)
    with pytest.raises(KeyboardInterrupt):
        _score(lst, cls_committee, out, chunk_size=4, top=0)
    monkeypatch.setattr(type(cls_committee), "predict", real)
    assert not out.exists()
    notes = []
    opts = ScoreOptions(progress=False, chunk_size=99, top=0)  # the unfinished run's size wins
    result = score_candidates(lst, cls_committee, out, options=opts, say=notes.append)
    assert result.resumed_from == 8 and result.scored_now == 22
    assert any("--chunk-size 4" in n for n in notes)
    assert out.read_bytes() == ref.out.read_bytes()
    # an unfinished run of another list is not mixed in
    monkeypatch.setattr(type(cls_committee), "predict", crash)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        _score(lst, cls_committee, out, chunk_size=4, top=0)
    monkeypatch.setattr(type(cls_committee), "predict", real)
    with open(lst, "a") as fh:
        fh.write("extra,cutouts/c00000.fits,A,x\n")
    notes.clear()
    result = score_candidates(lst, cls_committee, out, options=QUIET, say=notes.append)
    assert result.resumed_from == 0 and any("different csv" in n for n in notes)
    assert [r["id"] for r in read_rows(out)][-2:] == ["c00029", "extra"]


def _shm_segments() -> set[str]:
    return {p.name for p in Path("/dev/shm").glob("psm_*")}


def _cli(lst: Path, run: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "lensfind.cli", "score", str(lst), "--model", str(run),
            "--out", str(out), "--chunk-size", "6", "--mc-samples", "6", "--workers", "2",
            "--no-progress", *extra]


def test_killed_run_resumes_to_the_same_file(tmp_path, cls_run, cls_committee):
    n = 96
    lst = good_list(tmp_path / "data", n)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    # reference: an uninterrupted run with the same settings
    ref = _score(lst, cls_committee, tmp_path / "ref.csv", chunk_size=6, mc_samples=6,
                 workers=2)
    # killed with SIGKILL once a few chunks are on disk; files read by worker processes into
    # shared memory, which must not outlive the killed run
    shm_before = _shm_segments()
    out = tmp_path / "run" / "scores.csv"
    partial, progress = work_paths(out)
    proc = subprocess.Popen(_cli(lst, cls_run, out, "--readers", "processes"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO)
    deadline = time.monotonic() + 240
    rows_done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            rows_done = json.loads(progress.read_text())["rows_done"]
        except (OSError, ValueError, KeyError):
            rows_done = 0
        if rows_done >= 18:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    deadline = time.monotonic() + 60  # Python's resource tracker removes it after the kill
    while _shm_segments() - shm_before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _shm_segments() - shm_before, "a shared-memory buffer outlived the killed run"
    state = json.loads(progress.read_text())
    assert 18 <= state["rows_done"] < n, "the run ended before it could be killed"
    assert not out.exists() and partial.exists()
    with open(partial, "ab") as fh:  # a torn write after the last recorded chunk
        fh.write(b"c00099,cutouts/c00099.fits,A,note,ok,,0.5")
    # started again with the same command: resumes
    again = subprocess.run(_cli(lst, cls_run, out), capture_output=True, text=True, env=env,
                           cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "rows already done" in again.stderr
    assert f"resumed: {state['rows_done']} rows were already done" in again.stdout
    assert out.read_bytes() == ref.out.read_bytes()
    ids = [r["id"] for r in read_rows(out)]
    assert ids == [f"c{i:05d}" for i in range(n)]  # no duplicates, no gaps
    assert not partial.exists() and not progress.exists()


def _write_validation(run: Path, theta_spread: float, e1_spread: float, seed: int) -> None:
    """A predictions.npz per fold whose validation errors are ``spread`` x the predicted sigma."""
    rng = np.random.default_rng(seed)
    names = np.array(["theta_e", "e1"])
    n = 4000
    for fold in sorted(run.glob("fold_*")):
        cov = np.tile(np.eye(2), (n, 1, 1))
        true = rng.normal(size=(n, 2)) * [theta_spread, e1_spread]
        np.savez(fold / "predictions.npz", names=names, test_mean=np.zeros((1, 2)),
                 test_aleatoric=cov[:1], test_epistemic=0 * cov[:1], test_true=np.zeros((1, 2)),
                 val_mean=np.zeros((n, 2)), val_aleatoric=cov, val_epistemic=0 * cov,
                 val_true=true)


def test_recalibrate_scales_each_parameters_sigma_by_the_validation_factor(tmp_path, reg_run):
    import shutil

    run = tmp_path / "reg-run"
    shutil.copytree(reg_run, run)
    lst = good_list(tmp_path / "data", 4)
    with pytest.raises(ModelDirError, match="--recalibrate: .*cannot recalibrate: fold"):
        _score(lst, [run], tmp_path / "x.csv", recalibrate=True)      # no validation saved
    _write_validation(run, theta_spread=2.0, e1_spread=0.5, seed=1)
    plain = read_rows(_score(lst, [run], tmp_path / "p.csv").out)
    recal = read_rows(_score(lst, [run], tmp_path / "r.csv", recalibrate=True).out)
    for a, b in zip(plain, recal):
        assert float(b["reg_theta_e"]) == float(a["reg_theta_e"])     # means untouched
        ratio_t = float(b["reg_theta_e_sigma"]) / float(a["reg_theta_e_sigma"])
        ratio_e = float(b["reg_e1_sigma"]) / float(a["reg_e1_sigma"])
        assert ratio_t == pytest.approx(2.0, rel=0.05) and ratio_e == pytest.approx(0.5, rel=0.05)
        assert float(b["reg_cov_theta_e_e1"]) == pytest.approx(
            float(a["reg_cov_theta_e_e1"]) * ratio_t * ratio_e, rel=1e-3)
