"""lensfind.evaluate.calibration: 68 % errors, coverage, chi2, calibration curve, recalibration."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lensfind.evaluate import calibration as C


def _gaussian_set(rng, n_images=20000, n=3, inflate=1.0):
    """Truths drawn from predicted Gaussians with correlated covariances; ``inflate`` scales the
    covariance the predictions *claim* (1 = calibrated, < 1 = over-confident)."""
    A = rng.normal(size=(n_images, n, n)) * 0.3
    cov = A @ np.swapaxes(A, 1, 2) + 0.05 * np.eye(n)
    mean = rng.normal(size=(n_images, n))
    chol = np.linalg.cholesky(cov)
    true = mean + np.einsum("nij,nj->ni", chol, rng.normal(size=(n_images, n)))
    return mean, cov * inflate, true


def test_error68_definition():
    true = np.zeros((100, 1))
    pred = np.arange(1, 101, dtype=float)[:, None]  # |r| = 1..100
    assert C.error68(pred, true)[0] == pytest.approx(np.percentile(np.arange(1, 101), 68.26894921),
                                                     rel=1e-9)
    rng = np.random.default_rng(0)
    r = rng.normal(scale=[0.1, 2.0], size=(40000, 2))
    np.testing.assert_allclose(C.error68(r, np.zeros_like(r)), [0.1, 2.0], rtol=0.03)
    # a bias widens the interval centred on the truth
    assert C.error68(r + [0.1, 0], np.zeros_like(r))[0] > 0.12


def test_calibrated_gaussians_give_expected_coverage_and_chi2():
    rng = np.random.default_rng(1)
    mean, cov, true = _gaussian_set(rng)
    cover = C.coverage(mean, cov, true)
    for j, k in enumerate(C.SIGMA_LEVELS):
        np.testing.assert_allclose(cover[j], C.EXPECTED_COVERAGE[k], atol=0.012)
    test = C.chi2_test(C.chi2(mean, cov, true), 3)
    assert test["ks_statistic"] < 0.015 and test["ks_pvalue"] > 0.01
    curve = C.calibration_curve(mean, cov, true)
    np.testing.assert_allclose(curve["joint"], curve["expected"], atol=0.015)
    np.testing.assert_allclose(curve["marginal"] - curve["expected"][:, None], 0, atol=0.015)


def test_overconfident_predictions_are_detected_and_recalibrated():
    rng = np.random.default_rng(2)
    mean, cov, true = _gaussian_set(rng, inflate=0.25)  # sigma claimed half the true one
    before = C.evaluate_regression(mean, cov, true, names=["a", "b", "c"])
    assert before.average_coverage()[1] < 0.45
    assert before.chi2_test["ks_statistic"] > 0.3
    assert np.all(before.curve["joint"] <= before.curve["expected"] + 1e-9)
    val, test = slice(0, 10000), slice(10000, None)
    for method in C.RECALIBRATION_METHODS:
        scale = C.fit_recalibration(mean[val], cov[val], true[val], method=method)
        assert scale == pytest.approx(4.0, rel=0.05)
        after = C.evaluate_regression(mean[test], cov[test], true[test], names=["a", "b", "c"],
                                      scale=scale)
        for k in C.SIGMA_LEVELS:
            assert after.average_coverage()[k] == pytest.approx(C.EXPECTED_COVERAGE[k], abs=0.02)
        assert after.nll < before.nll
    with pytest.raises(ValueError, match="unknown recalibration method 'mean'.*mle, median"):
        C.fit_recalibration(mean, cov, true, method="mean")


def test_no_covariance_gives_nan_not_a_crash():
    rng = np.random.default_rng(3)
    mean = rng.normal(size=(50, 2))
    rep = C.evaluate_regression(mean, np.zeros((50, 2, 2)), mean + 0.1, names=["x", "y"])
    assert np.isnan(rep.coverage[1]).all() and math.isnan(rep.nll)
    assert rep.summary()["x"]["coverage_1sigma"] is None
    np.testing.assert_allclose(rep.error68, 0.1)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        C.error68(np.zeros((3, 2)), np.array([[0, 1], [np.nan, 2], [1, 1]]))
    with pytest.raises(ValueError, match=r"covariance of shape \(3, 2\)"):
        C.coverage(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match="must both be"):
        C.chi2(np.zeros((3, 2)), np.zeros((3, 2, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"1 names \['x'\] for 2 parameters"):
        C.evaluate_regression(np.zeros((3, 2)), None, np.zeros((3, 2)), names=["x"])


def test_tables_have_the_paper_rows(tmp_path):
    rng = np.random.default_rng(4)
    names = list(C.PAPER_TABLE1["Sorscher & Wagner-Carena"])
    mean, cov, true = _gaussian_set(rng, n_images=500, n=len(names))
    rep = C.evaluate_regression(mean, cov, true, names=names)
    paths = C.write_tables(tmp_path, {"this run": rep, "this run (recalibrated)": rep})
    md = paths["table1.md"].read_text()
    assert "| Sorscher & Wagner-Carena (paper) | 0.07 | 0.11 | 0.12 | 0.26 | 0.29 | 0.37 |" in md
    assert "| this run |" in md and "prior std" in md
    assert "recalibrated" not in md  # same means: one row
    cov_md = paths["coverage.md"].read_text()
    assert "61.9" in cov_md and "68.3" in cov_md and "99.7" in cov_md
    csv_lines = paths["coverage.csv"].read_text().splitlines()
    assert csv_lines[0].startswith("model,sigma,theta_e")
    assert len(csv_lines) == 1 + 3 * 2 + 3
    import json
    data = json.loads(paths["calibration.json"].read_text())
    assert set(data["this run"]["average"]) == {"coverage_1sigma", "coverage_2sigma",
                                                "coverage_3sigma"}


def test_sigma_scales_restore_each_parameters_one_sigma_coverage_and_keep_correlations():
    from lensfind.evaluate.calibration import coverage, fit_sigma_scales, scale_sigmas

    rng = np.random.default_rng(3)
    n = 20000
    cov = np.tile(np.array([[1.0, 0.5], [0.5, 4.0]]), (n, 1, 1))      # predicted
    true_sd = np.array([2.0, 1.0])                                     # errors: x2 and x0.5
    mean = np.zeros((n, 2))
    true = rng.normal(size=(n, 2)) * true_sd
    scales = fit_sigma_scales(mean, cov, true)
    assert scales == pytest.approx([2.0, 0.5], rel=0.03)
    scaled = scale_sigmas(cov, scales)
    assert coverage(mean, scaled, true)[0] == pytest.approx([0.6827, 0.6827], abs=0.01)
    corr = scaled[0, 0, 1] / np.sqrt(scaled[0, 0, 0] * scaled[0, 1, 1])
    assert corr == pytest.approx(0.5 / 2.0)                            # unchanged
