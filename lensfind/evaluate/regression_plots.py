"""Plots of regression predictions: predicted vs true, chi2 histogram, calibration curve, det Sigma.

Every function writes one PNG (matplotlib, Agg) and returns its path. Colours of the sigma bands
follow the covariance paper's Fig. 3: orange within 1 sigma, green within 2, purple within 3,
grey beyond.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lensfind.display import show
from lensfind.evaluate.calibration import (
    EXPECTED_COVERAGE,
    PAPER_COVERAGE,
    RegressionReport,
)
from lensfind.probabilistic import log_det

BAND_COLORS = ("#ff7f0e", "#2ca02c", "#9467bd", "#9a9a9a")
BAND_LABELS = ("within 1σ", "within 2σ", "within 3σ", "beyond 3σ")


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path


def _grid(n: int):
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    return rows, cols


def sigma_band(mean: np.ndarray, sigma: np.ndarray, true: np.ndarray) -> np.ndarray:
    """0, 1, 2 or 3 per value: within 1, 2, 3 sigma or beyond (3 also where sigma is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.abs(mean - true) / sigma
    z = np.where(np.isfinite(z), z, np.inf)
    return np.select([z <= 1, z <= 2, z <= 3], [0, 1, 2], 3)


def plot_pred_vs_true(mean, sigma, true, names: Sequence[str], path, *, units: Mapping[str, str] | None = None,
                      max_points: int = 400, seed: int = 0, title: str = "") -> Path:
    """One panel per parameter: predicted (y, with 1-sigma error bars) against true (x)."""
    plt = _plt()
    mean, sigma, true = (np.asarray(a, np.float64) for a in (mean, sigma, true))
    n = mean.shape[1]
    rows, cols = _grid(n)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.0 * rows), squeeze=False)
    idx = np.arange(len(mean))
    if len(idx) > max_points:
        idx = np.sort(np.random.default_rng(seed).choice(idx, max_points, replace=False))
    for j in range(rows * cols):
        ax = axes.flat[j]
        if j >= n:
            ax.axis("off")
            continue
        band = sigma_band(mean[idx, j], sigma[idx, j], true[idx, j])
        for b in (3, 2, 1, 0):
            sel = idx[band == b]
            if sel.size:
                ax.errorbar(true[sel, j], mean[sel, j], yerr=sigma[sel, j], fmt="o", ms=2.5,
                            lw=0.6, color=BAND_COLORS[b], alpha=0.8,
                            label=f"{BAND_LABELS[b]} ({np.mean(band == b):.0%})")
        lo = np.nanmin([true[:, j].min(), mean[:, j].min()])
        hi = np.nanmax([true[:, j].max(), mean[:, j].max()])
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        unit = (units or {}).get(names[j], "")
        ax.set_xlabel(f"true {names[j]}" + (f" [{unit}]" if unit else ""))
        ax.set_ylabel(f"predicted {names[j]}")
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], labels[::-1], fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_chi2(reports: Mapping[str, RegressionReport], path, *, title: str = "") -> Path:
    """Histogram of per-image chi2 for each report against the chi2_n pdf (KS statistic in the
    legend)."""
    from scipy import stats

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    n = len(next(iter(reports.values())).names)
    finite = [r.chi2[np.isfinite(r.chi2)] for r in reports.values()]
    top = max([np.percentile(v, 99) for v in finite if v.size] + [stats.chi2.ppf(0.995, n)])
    bins = np.linspace(0, top, 40)
    for (label, rep), values, color in zip(reports.items(), finite, ("#1b6ca8", "#d95f02", "#2ca02c")):
        if values.size:
            ax.hist(np.clip(values, 0, top), bins=bins, density=True, histtype="step", lw=1.6,
                    color=color, label=f"{label}: KS = {rep.chi2_test['ks_statistic']:.3f}, "
                                       f"median {rep.chi2_test['median']:.2f}")
    grid = np.linspace(1e-3, top, 300)
    ax.plot(grid, stats.chi2.pdf(grid, n), "k-", lw=1.2,
            label=f"χ²$_{{{n}}}$ (median {stats.chi2.median(n):.2f})")
    ax.set_xlabel(r"$(x-\mu)^T\Sigma^{-1}(x-\mu)$  (last bin: overflow)")
    ax.set_ylabel("density")
    ax.set_title(title or "joint χ² of the predicted covariance")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_calibration_curve(reports: Mapping[str, RegressionReport], path, *, title: str = "") -> Path:
    """Observed vs expected coverage: joint (chi2) and per-parameter marginal curves, with the
    1/2/3-sigma points of the paper."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(reports), figsize=(5.0 * len(reports), 4.6), squeeze=False)
    for ax, (label, rep) in zip(axes.flat, reports.items()):
        curve = rep.curve
        ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="perfect")
        for j, name in enumerate(rep.names):
            ax.plot(curve["expected"], curve["marginal"][:, j], lw=0.9, alpha=0.8, label=name)
        ax.plot(curve["expected"], curve["joint"], "k-", lw=2.0, label="joint (χ²)")
        exp = [EXPECTED_COVERAGE[k] for k in (1, 2, 3)]
        avg = rep.average_coverage()
        ax.plot(exp, [avg[k] for k in (1, 2, 3)], "s", color="#d62728", ms=6,
                label="this run, mean at 1/2/3σ")
        ax.plot(exp, [PAPER_COVERAGE[k] for k in (1, 2, 3)], "^", color="#555555", ms=6,
                label="paper (dropout 0.03)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("expected coverage")
        ax.set_ylabel("observed coverage")
        ax.set_title(f"{label} (Σ × {rep.scale:.3g})")
        ax.legend(fontsize=7, loc="upper left")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path)


def plot_det_extremes(images: np.ndarray, cov: np.ndarray, path, *, k: int = 6,
                      true: np.ndarray | None = None, names: Sequence[str] = ()) -> Path:
    """The ``k`` images with the smallest det Sigma (top: the model is sure) and the ``k`` with the
    largest (bottom: unsure), as in the paper's Fig. 5."""

    plt = _plt()
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    ld = log_det(cov)
    order = np.argsort(ld)
    k = max(1, min(k, len(order) // 2 or 1))
    rows = {"smallest det Σ (easy)": order[:k], "largest det Σ (hard)": order[::-1][:k]}
    fig, axes = plt.subplots(2, k, figsize=(2.0 * k, 4.6), squeeze=False)
    theta = list(names).index("theta_e") if "theta_e" in names else None
    for r, (label, idx) in enumerate(rows.items()):
        for c in range(k):
            ax = axes[r, c]
            ax.axis("off")
            if c >= len(idx):
                continue
            i = idx[c]
            ax.imshow(show(images[i]), origin="lower", cmap="gray")
            text = f"log det {ld[i]:.1f}"
            if theta is not None and true is not None:
                text += f"\nθE {true[i, theta]:.2f}"
            ax.set_title(text, fontsize=7)
        axes[r, 0].text(-0.1, 0.5, label, transform=axes[r, 0].transAxes, rotation=90,
                        va="center", ha="right", fontsize=8)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep(values: Sequence[float], reports: Sequence[RegressionReport], path, *,
               name: str = "dropout rate") -> Path:
    """Average coverage at 1/2/3 sigma against a swept setting, with the expected values."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.5, 4.0))
    for k, color in zip((1, 2, 3), BAND_COLORS):
        ax.plot(values, [r.average_coverage()[k] for r in reports], "o-", color=color,
                label=f"{k}σ observed")
        ax.axhline(EXPECTED_COVERAGE[k], color=color, ls="--", lw=0.8)
        ax.plot([0.03], [PAPER_COVERAGE[k]], "^", color=color, ms=7)
    ax.set_xscale("log")
    ax.set_xlabel(name)
    ax.set_ylabel("average coverage")
    ax.set_title("coverage vs " + name + " (dashed: expected, ▲: paper)")
    ax.legend(fontsize=8)
    return _save(fig, path)
