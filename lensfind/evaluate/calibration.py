"""Accuracy and calibration of Gaussian regression predictions (covariance paper, section 5).

Definitions (``true`` (N, n), predictive ``mean`` (N, n), covariance ``cov`` (N, n, n), residual
``r = mean - true``, marginal sigma ``s_i = sqrt(cov_ii)``):

* **68 % error** (Table 1 of Sorscher & Wagner-Carena, after Hezaveh et al. 2017): per parameter,
  the 68.27th percentile of ``|r_i|`` -- the half-width of the smallest interval *centred on the
  true value* that holds 68.27 % of the predictions (equals sigma for unbiased Gaussian errors;
  a bias widens it). In the parameter's units. Reported beside it: ``bias`` = median of ``r_i``
  and ``prior_std`` = standard deviation of ``true_i`` (what guessing the mean would give).
* **coverage at k sigma**: per parameter, the fraction with ``|r_i| <= k s_i``; "average" is the
  mean over parameters (the paper's 61.9 / 85.8 / 94.9 % at k = 1, 2, 3). Expected for a
  calibrated Gaussian: 68.27 / 95.45 / 99.73 %.
* **chi2** per image: ``r^T cov^-1 r`` -- chi-square with n degrees of freedom when calibrated
  (eq. 4 of the paper). Compared with ``scipy.stats.kstest`` (KS statistic and p-value).
* **calibration curve**: for expected probability p, the observed fraction of images whose truth
  lies inside the central p interval -- marginally per parameter (``|r_i|/s_i <=
  Phi^-1((1+p)/2)``) and jointly (``chi2 <= chi2_n.ppf(p)``). The diagonal is perfect; below it is
  over-confident.
* **recalibration**: one factor ``c`` on the covariance (``cov -> c cov``) fitted on a validation
  split: ``"mle"`` maximises the Gaussian likelihood (``c = mean(chi2) / n``), ``"median"`` matches
  the median of chi2 to that of chi2_n. **Per parameter** (:func:`fit_sigma_scales`): factors
  ``s_i`` for ``cov -> D cov D``, ``D = diag(s)`` (correlations kept), ``s_i`` the 68.27th
  percentile of ``|r_i| / s_i`` on the validation split, so that each parameter's 1-sigma
  coverage there is 68.3 %; applied by ``lensfind score --recalibrate``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.files import atomic_write_text, csv_table, fmt, markdown_table
from lensfind.probabilistic import gaussian_log_prob

SIGMA_LEVELS = (1, 2, 3)
#: Gaussian probability within k sigma for k = 1, 2, 3.
EXPECTED_COVERAGE = {k: math.erf(k / math.sqrt(2.0)) for k in SIGMA_LEVELS}
#: The covariance paper's average coverage at dropout 0.03 (section 5).
PAPER_COVERAGE = {1: 0.619, 2: 0.858, 3: 0.949}
#: Table 1 of the covariance paper: 68 % errors (the paper's units: arcsec for theta_e and centre).
PAPER_TABLE1 = {
    "Hezaveh et al. 2017": {"theta_e": 0.03, "e1": 0.04, "e2": 0.05, "center_x": 0.06,
                            "center_y": 0.06, "magnification": math.nan},
    "Sorscher & Wagner-Carena": {"theta_e": 0.07, "e1": 0.11, "e2": 0.12, "center_x": 0.26,
                                 "center_y": 0.29, "magnification": 0.37},
}
ERROR_QUANTILE = 100.0 * math.erf(1.0 / math.sqrt(2.0))  # 68.27
RECALIBRATION_METHODS = ("mle", "median")


def _arrays(mean, cov, true) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.asarray(mean, np.float64)
    true = np.asarray(true, np.float64)
    if mean.ndim != 2 or true.shape != mean.shape:
        raise ValueError(f"mean {mean.shape} and true {true.shape} must both be (N, n)")
    if cov is not None:
        cov = np.asarray(cov, np.float64)
        if cov.shape != mean.shape + (mean.shape[1],):
            raise ValueError(f"covariance of shape {cov.shape} does not fit mean {mean.shape}: "
                             f"expected {mean.shape + (mean.shape[1],)}")
    if not np.isfinite(true).all():
        raise ValueError("true values contain NaN or infinity")
    return mean, cov, true


def _has_covariance(cov: np.ndarray) -> bool:
    return cov is not None and bool(np.all(np.diagonal(cov, axis1=-2, axis2=-1) > 0))


def error68(mean, true) -> np.ndarray:
    """68 % error per parameter (n,): the 68.27th percentile of ``|mean - true|``."""
    mean, _, true = _arrays(mean, None, true)
    return np.percentile(np.abs(mean - true), ERROR_QUANTILE, axis=0)


def coverage(mean, cov, true, levels: Sequence[float] = SIGMA_LEVELS) -> np.ndarray:
    """Fraction with ``|r_i| <= k sigma_i``: array (len(levels), n); NaN without a covariance."""
    mean, cov, true = _arrays(mean, cov, true)
    if not _has_covariance(cov):
        return np.full((len(levels), mean.shape[1]), np.nan)
    z = np.abs(mean - true) / np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return np.stack([np.mean(z <= k, axis=0) for k in levels])


def chi2(mean, cov, true) -> np.ndarray:
    """``(x - mu)^T Sigma^-1 (x - mu)`` per image (N,); NaN without a covariance."""
    mean, cov, true = _arrays(mean, cov, true)
    if not _has_covariance(cov):
        return np.full(mean.shape[0], np.nan)
    r = true - mean
    return np.einsum("ni,ni->n", r, np.linalg.solve(cov, r[..., None])[..., 0])


def chi2_test(values: np.ndarray, dof: int) -> dict[str, float]:
    """KS test of chi2 values against chi2_dof: statistic, p-value, median and expected median."""
    from scipy import stats

    values = np.asarray(values, np.float64)
    if values.size == 0 or not np.isfinite(values).all():
        return {"ks_statistic": math.nan, "ks_pvalue": math.nan, "median": math.nan,
                "expected_median": float(stats.chi2.median(dof)), "mean": math.nan,
                "expected_mean": float(dof)}
    res = stats.kstest(values, "chi2", args=(dof,))
    return {"ks_statistic": float(res.statistic), "ks_pvalue": float(res.pvalue),
            "median": float(np.median(values)), "expected_median": float(stats.chi2.median(dof)),
            "mean": float(np.mean(values)), "expected_mean": float(dof)}


def calibration_curve(mean, cov, true, levels: Sequence[float] | None = None) -> dict[str, np.ndarray]:
    """Observed vs expected coverage.

    Returns:
        ``{"expected": (L,), "marginal": (L, n) per parameter, "joint": (L,)}``.
    """
    from scipy import stats

    mean, cov, true = _arrays(mean, cov, true)
    levels = np.linspace(0.02, 0.98, 49) if levels is None else np.asarray(levels, np.float64)
    n = mean.shape[1]
    if not _has_covariance(cov):
        return {"expected": levels, "marginal": np.full((len(levels), n), np.nan),
                "joint": np.full(len(levels), np.nan)}
    z = np.abs(mean - true) / np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    k = stats.norm.ppf(0.5 + 0.5 * levels)
    marginal = np.stack([np.mean(z <= kk, axis=0) for kk in k])
    c2 = chi2(mean, cov, true)
    joint = np.array([np.mean(c2 <= stats.chi2.ppf(p, n)) for p in levels])
    return {"expected": levels, "marginal": marginal, "joint": joint}


def fit_recalibration(mean, cov, true, *, method: str = "mle") -> float:
    """Factor ``c`` for ``cov -> c cov`` fitted on a validation split (see module docstring)."""
    from scipy import stats

    if method not in RECALIBRATION_METHODS:
        raise ValueError(f"unknown recalibration method {method!r}: expected one of "
                         f"{', '.join(RECALIBRATION_METHODS)}")
    values = chi2(mean, cov, true)
    n = np.asarray(mean).shape[1]
    if values.size == 0 or not np.isfinite(values).all():
        return math.nan
    if method == "mle":
        return float(np.mean(values) / n)
    return float(np.median(values) / stats.chi2.median(n))


def fit_sigma_scales(mean, cov, true) -> np.ndarray:
    """Per-parameter factors ``s`` (n,) for ``cov -> D cov D``, ``D = diag(s)``, fitted on a
    validation split (see the module docstring)."""
    mean, cov, true = _arrays(mean, cov, true)
    sigma = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return np.percentile(np.abs(mean - true) / sigma, ERROR_QUANTILE, axis=0)


def scale_sigmas(cov, scales) -> np.ndarray:
    """``D cov D`` with ``D = diag(scales)``; ``cov`` (..., n, n)."""
    scales = np.asarray(scales, dtype=np.float64)
    return np.asarray(cov) * np.outer(scales, scales)


@dataclasses.dataclass
class RegressionReport:
    """Everything the tables and plots show for one set of predictions.

    Attributes:
        names: parameter names.
        n: number of images.
        error68, bias, prior_std: (n,) per parameter, parameter units.
        coverage: {k: (n,)} fraction within k sigma per parameter.
        chi2: per-image chi2; chi2_test: KS summary.
        curve: the calibration curve (see :func:`calibration_curve`).
        scale: covariance factor applied (1 = as predicted).
        nll: mean negative log-likelihood per image (NaN without a covariance).
    """
    names: tuple[str, ...]
    n: int
    error68: np.ndarray
    bias: np.ndarray
    prior_std: np.ndarray
    coverage: dict[int, np.ndarray]
    chi2: np.ndarray
    chi2_test: dict[str, float]
    curve: dict[str, np.ndarray]
    scale: float = 1.0
    nll: float = math.nan

    def average_coverage(self) -> dict[int, float]:
        return {k: float(np.mean(v)) for k, v in self.coverage.items()}

    def summary(self) -> dict[str, Any]:
        """Plain JSON-able dict (per-parameter numbers keyed by name)."""
        out: dict[str, Any] = {"n_images": self.n, "covariance_scale": self.scale,
                               "nll": self.nll, "chi2": self.chi2_test}
        for i, name in enumerate(self.names):
            out[name] = {"error68": float(self.error68[i]), "bias": float(self.bias[i]),
                         "prior_std": float(self.prior_std[i]),
                         **{f"coverage_{k}sigma": float(v[i]) for k, v in self.coverage.items()}}
        out["average"] = {f"coverage_{k}sigma": v for k, v in self.average_coverage().items()}
        return _finite(out)


def _finite(obj):
    """NaN -> None so that JSON stays standard."""
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def evaluate_regression(mean, cov, true, *, names: Sequence[str], scale: float = 1.0) -> RegressionReport:
    """All metrics of the module docstring for predictions (cov multiplied by ``scale``)."""
    mean, cov, true = _arrays(mean, cov, true)
    if len(names) != mean.shape[1]:
        raise ValueError(f"{len(names)} names {list(names)} for {mean.shape[1]} parameters")
    cov = None if cov is None else cov * scale
    cov_levels = coverage(mean, cov, true)
    c2 = chi2(mean, cov, true)
    nll = math.nan
    if _has_covariance(cov):
        nll = float(-np.mean(gaussian_log_prob(true, mean, cov)))
    return RegressionReport(
        names=tuple(names), n=mean.shape[0], error68=error68(mean, true),
        bias=np.median(mean - true, axis=0), prior_std=np.std(true, axis=0),
        coverage={k: cov_levels[j] for j, k in enumerate(SIGMA_LEVELS)}, chi2=c2,
        chi2_test=chi2_test(c2, mean.shape[1]), curve=calibration_curve(mean, cov, true),
        scale=scale, nll=nll)


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------
def _cell(value) -> str:
    """A table cell: three significant digits, ``-`` when missing."""
    return fmt(value, ".3g", "-")


def table1_rows(reports: Mapping[str, RegressionReport], *, paper: bool = True
                ) -> tuple[list[str], list[list[str]]]:
    """Table-1 layout: one row per model (68 % errors), plus the paper's rows and prior width.

    A report with the same errors as an earlier one (a recalibrated copy) gets no second row."""
    names: list[str] = []
    for rep in reports.values():
        names += [n for n in rep.names if n not in names]
    header = ["model"] + names
    rows: list[list[str]] = []
    if paper:
        for label, values in PAPER_TABLE1.items():
            rows.append([f"{label} (paper)"] + [_cell(values.get(n, math.nan)) for n in names])
    shown: list[np.ndarray] = []
    for label, rep in reports.items():
        if any(np.array_equal(rep.error68, e) for e in shown):
            continue  # same means (e.g. recalibrated: only the covariance changed)
        shown.append(rep.error68)
        index = {n: i for i, n in enumerate(rep.names)}
        rows.append([label] + [_cell(rep.error68[index[n]]) if n in index else "-" for n in names])
    first = next(iter(reports.values()))
    index = {n: i for i, n in enumerate(first.names)}
    rows.append(["prior std (test set)"] + [_cell(first.prior_std[index[n]]) if n in index else "-"
                                              for n in names])
    return header, rows


def coverage_rows(reports: Mapping[str, RegressionReport], *, paper: bool = True
                  ) -> tuple[list[str], list[list[str]]]:
    """Coverage (%) at 1/2/3 sigma per parameter and averaged, with chi2 KS and the paper's row."""
    first = next(iter(reports.values()))
    header = (["model", "sigma"] + list(first.names)
              + ["average", "expected", "chi2 median", "chi2_n median", "KS stat"])
    rows: list[list[str]] = []
    for label, rep in reports.items():
        avg = rep.average_coverage()
        for k in SIGMA_LEVELS:
            rows.append([label, f"{k}"] + [_cell(100 * v) for v in rep.coverage[k]]
                        + [_cell(100 * avg[k]), _cell(100 * EXPECTED_COVERAGE[k]),
                           _cell(rep.chi2_test["median"]) if k == 1 else "",
                           _cell(rep.chi2_test["expected_median"]) if k == 1 else "",
                           _cell(rep.chi2_test["ks_statistic"]) if k == 1 else ""])
    if paper:
        for k in SIGMA_LEVELS:
            rows.append(["Sorscher & Wagner-Carena (paper, dropout 0.03)", f"{k}"]
                        + ["-"] * len(first.names)
                        + [_cell(100 * PAPER_COVERAGE[k]), _cell(100 * EXPECTED_COVERAGE[k]),
                           "", "", ""])
    return header, rows


def write_tables(out_dir: str | Path, reports: Mapping[str, RegressionReport], *,
                 stem: str = "", paper: bool = True) -> dict[str, Path]:
    """Write ``table1.{csv,md}``, ``coverage.{csv,md}`` and ``calibration.json`` (with ``stem``
    prefix) into ``out_dir``; returns the paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for name, (header, rows) in {"table1": table1_rows(reports, paper=paper),
                                 "coverage": coverage_rows(reports, paper=paper)}.items():
        for ext, text in (("csv", csv_table(header, rows)), ("md", markdown_table(header, rows))):
            path = out / f"{stem}{name}.{ext}"
            atomic_write_text(path, text)
            paths[f"{name}.{ext}"] = path
    path = out / f"{stem}calibration.json"
    atomic_write_text(path, json.dumps({k: r.summary() for k, r in reports.items()}, indent=2)
                      + "\n")
    paths["calibration.json"] = path
    return paths
