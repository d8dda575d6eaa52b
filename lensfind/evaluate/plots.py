"""Plots of cross-validation runs: ROC curves, learning curves and a comparison overview (PNG).

Matplotlib with the non-interactive Agg backend; every function writes one file and returns its
path.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lensfind.evaluate.metrics import roc_auc, roc_points


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path, title: str = "") -> Path:
    """Title, lay out, write (110 dpi) and close ``fig``; returns ``path``."""
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def _roc(labels, scores):
    fpr, tpr = roc_points(labels, scores)
    return fpr, tpr, roc_auc(labels, scores)


def plot_roc(curves: Mapping[int, tuple[np.ndarray, np.ndarray]], path: str | Path, *,
             title: str = "", names: Mapping[int, str] | None = None) -> Path:
    """ROC curves of all folds in one PNG: linear axes (left) and log FPR (right).

    Args:
        curves: fold -> (labels, scores) of its test images.
        path: PNG to write.
        title: figure title.
        names: fold -> legend name (default ``fold <k+1>``); with one curve no pooled curve is
            drawn.
    """
    plt = _plt()
    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8))
    grid = np.logspace(-4, 0, 400)
    interp = []
    for fold, (labels, scores) in sorted(curves.items()):
        if len(np.unique(labels)) < 2:
            continue
        fpr, tpr, auc = _roc(labels, scores)
        n_neg = int(np.sum(np.asarray(labels) == 0))
        for ax in axes:
            ax.step(fpr, tpr, where="post", lw=1.2, alpha=0.8,
                    label=f"{(names or {}).get(fold, f'fold {fold + 1}')}: AUC {auc:.3f}")
        interp.append(np.interp(grid, fpr, tpr))
        axes[1].axvline(1.0 / max(n_neg, 1), color="0.85", lw=0.6, zorder=0)
    if len(interp) > 1:
        all_labels = np.concatenate([np.asarray(c[0]) for c in curves.values()])
        all_scores = np.concatenate([np.asarray(c[1]) for c in curves.values()])
        if len(np.unique(all_labels)) == 2:
            fpr, tpr, auc = _roc(all_labels, all_scores)
            for ax in axes:
                ax.step(fpr, tpr, where="post", color="k", lw=2.0,
                        label=f"pooled: AUC {auc:.3f}")
    axes[0].plot([0, 1], [0, 1], ls=":", color="0.5", lw=1)
    axes[0].set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate",
                ylabel="true-positive rate (recovered lenses)", title="ROC, linear")
    axes[1].set_xscale("log")
    axes[1].set(xlim=(1e-4, 1), ylim=(0, 1.01), xlabel="false-positive rate (log)",
                title="ROC, low-FPR end (grey: 1/N_neg)")
    axes[0].legend(loc="lower right", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return _save(fig, path, title)


def plot_recall_bins(panels: Mapping[str, Sequence[dict]], path: str | Path, *,
                     title: str = "") -> Path:
    """Recall at p >= 0.5 and at the TPR0 threshold, and mean p(lens), per bin of each truth
    column: one panel per column; ``panels``: column -> rows of
    :func:`lensfind.evaluate.finding.recall_in_bins` (the bin of NaN values is left out)."""
    plt = _plt()
    path = Path(path)
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4.2), squeeze=False)
    for ax, (column, rows) in zip(axes[0], panels.items()):
        rows = [r for r in rows if np.isfinite(r["lo"]) and r["n"]]
        x = np.arange(len(rows))
        for key, label, marker in (("recall", "recall (p >= 0.5)", "o"),
                                   ("recall_tpr0", "recall above every non-lens", "s"),
                                   ("mean_p", "mean p(lens)", "^")):
            ax.plot(x, [r[key] for r in rows], marker=marker, label=label)
        ax.set_xticks(x, [f"{r['lo']:.3g}-{r['hi']:.3g}\n(n={r['n']})" for r in rows],
                      fontsize=7)
        ax.set(ylim=(-0.02, 1.02), xlabel=column, title=f"lenses by {column}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8, loc="lower right")
    return _save(fig, path, title)


def _metric_pairs(histories: Mapping[int, Sequence[dict]]) -> list[str]:
    keys: list[str] = []
    for hist in histories.values():
        for entry in hist:
            for k in entry:
                if k.startswith("val_") and k[4:] in entry and k[4:] not in keys:
                    keys.append(k[4:])
    order = ["loss"] + [k for k in ("auc", "accuracy") if k in keys] + \
        [k for k in keys if k not in ("loss", "auc", "accuracy")]
    return [k for k in order if k in keys or k == "loss"][:3]


def plot_learning_curves(histories: Mapping[int, Sequence[dict]], path: str | Path, *,
                         title: str = "") -> Path:
    """Training (solid) and validation (dashed) loss and metrics per epoch, one colour a fold."""
    plt = _plt()
    path = Path(path)
    metrics = _metric_pairs(histories) if histories else ["loss"]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 4.2), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (fold, hist) in enumerate(sorted(histories.items())):
        c = colors[n % len(colors)]
        epochs = [int(e.get("epoch", i)) + 1 for i, e in enumerate(hist)]
        for ax, m in zip(axes[0], metrics):
            tr = [e.get(m) for e in hist]
            va = [e.get(f"val_{m}") for e in hist]
            tr_x = [x for x, v in zip(epochs, tr) if v is not None]
            va_x = [x for x, v in zip(epochs, va) if v is not None]
            ax.plot(tr_x, [v for v in tr if v is not None], color=c, marker=".")
            ax.plot(va_x, [v for v in va if v is not None], color=c, ls="--", marker=".")
    for ax, m in zip(axes[0], metrics):
        ax.set(xlabel="epoch", ylabel=m, title=m)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=colors[n % len(colors)], label=f"fold {fold + 1}")
               for n, fold in enumerate(sorted(histories))]
    handles += [Line2D([], [], color="k", label="training"),
                Line2D([], [], color="k", ls="--", label="validation")]
    axes[0][0].legend(handles=handles, fontsize=7, ncol=2)
    return _save(fig, path, title)


def plot_comparison(summaries: Sequence[dict], oofs: Mapping[str, Mapping[int, dict]],
                    path: str | Path) -> Path:
    """Overview of several runs: headline metric mean +- std per run (bars, left) and the pooled
    out-of-fold ROC curve of each run (right, log FPR)."""
    plt = _plt()
    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(12, max(4.5, 0.45 * len(summaries) + 2)))
    names = [f"{s['model']} ({s['regime']})" for s in summaries]
    if len(set(names)) < len(names):
        names = [f"{s.get('experiment', '')}: {n}" for s, n in zip(summaries, names)]
    head = summaries[0]["headline"] if summaries else "roc_auc"
    means = [s["metrics"].get(head, {}).get("mean", math.nan) for s in summaries]
    stds = [s["metrics"].get(head, {}).get("std", 0.0) or 0.0 for s in summaries]
    y = np.arange(len(summaries))[::-1]
    axes[0].barh(y, means, xerr=stds, color="tab:blue", alpha=0.75, capsize=3)
    for yi, m, s in zip(y, means, stds):
        if not math.isnan(m):
            axes[0].text(m + s + 0.005, yi, f"{m:.3f} ± {s:.3f}", va="center", fontsize=8)
    axes[0].set_yticks(y, names)
    finite = [m for m in means if not math.isnan(m)]
    lo = min(finite) - 0.1 if finite else 0.0
    axes[0].set(xlim=(max(0.0, min(lo, 0.5)), 1.15), xlabel=f"{head} (mean ± std over folds)",
                title="test-fold metric per model")
    axes[0].grid(axis="x", alpha=0.3)
    for s, name in zip(summaries, names):
        folds = oofs.get(s["run_dir"], {})
        if not folds or "score" not in next(iter(folds.values()), {}):
            continue
        labels = np.concatenate([f["label"] for f in folds.values()])
        scores = np.concatenate([f["score"] for f in folds.values()])
        if len(np.unique(labels)) < 2:
            continue
        fpr, tpr, auc = _roc(labels, scores)
        axes[1].step(fpr, tpr, where="post", label=f"{name}: {auc:.3f}")
    axes[1].set_xscale("log")
    axes[1].set(xlim=(1e-4, 1), ylim=(0, 1.01), xlabel="false-positive rate (log)",
                ylabel="true-positive rate", title="pooled out-of-fold ROC")
    axes[1].grid(alpha=0.3)
    if axes[1].lines:
        axes[1].legend(fontsize=8, loc="best")
    return _save(fig, path)
