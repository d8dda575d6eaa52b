"""The cross-validation plots are written, non-empty and show what they should."""
from __future__ import annotations

import numpy as np

from lensfind.evaluate.plots import plot_comparison, plot_learning_curves, plot_roc


def _png(path):
    import matplotlib.image as mpimg
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 600
    assert img[..., :3].std() > 0.05          # not a blank canvas
    return img


def _curves(seed=0, folds=3, n=200):
    rng = np.random.default_rng(seed)
    out = {}
    for k in range(folds):
        labels = rng.integers(0, 2, n)
        scores = 1 / (1 + np.exp(-(2.5 * (labels - 0.5) * 2 + rng.normal(0, 1.5, n))))
        out[k] = (labels, scores)
    return out


def test_roc_png(tmp_path):
    path = plot_roc(_curves(), tmp_path / "roc.png", title="test run")
    _png(path)


def test_learning_curves_png(tmp_path):
    hist = {k: [{"epoch": e, "loss": 1 / (e + 1), "val_loss": 1.2 / (e + 1) + 0.1 * k,
                 "auc": 0.7 + 0.05 * e, "val_auc": 0.65 + 0.05 * e,
                 "accuracy": 0.6 + 0.05 * e, "val_accuracy": 0.6 + 0.04 * e}
                for e in range(5)] for k in range(3)}
    _png(plot_learning_curves(hist, tmp_path / "lc.png", title="test run"))


def test_comparison_png(tmp_path):
    summaries, oofs = [], {}
    for i, (model, regime) in enumerate((("xception", "frozen"), ("lensflow", "random"))):
        summaries.append({"model": model, "regime": regime, "headline": "roc_auc",
                          "run_dir": f"r{i}",
                          "metrics": {"roc_auc": {"mean": 0.9 - 0.1 * i, "std": 0.02}}})
        oofs[f"r{i}"] = {k: {"label": lab, "score": sc}
                         for k, (lab, sc) in _curves(seed=i).items()}
    _png(plot_comparison(summaries, oofs, tmp_path / "overview.png"))
