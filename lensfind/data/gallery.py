"""A picture of a data set: a grid of lenses above non-lenses, with their parameters."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lensfind.data.store import DataSet
from lensfind.display import show

LENS_COLOR = "#d95f02"
NONLENS_COLOR = "#1b6ca8"
KIND_NAMES = {"lens_galaxy": "galaxy, no source", "neighbour": "galaxy + neighbour",
              "real_hst": "real HST image", "star": "star(s)", "ring": "ring galaxy",
              "spiral": "spiral galaxy"}


def _stretch_name(bands) -> str:
    """How the panels are shown (:func:`lensfind.display.show`)."""
    if len(bands) == 3:
        return f"Lupton RGB per panel (R, G, B = {bands[2]}, {bands[1]}, {bands[0]})"
    return "asinh stretch per panel" + (f" of the mean of {', '.join(bands)}" if bands else "")


def _pick(dataset: DataSet, n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random lenses; non-lenses taken in turn from each kind so that every kind is shown."""
    rng = np.random.default_rng(seed)
    lenses = np.flatnonzero(dataset.labels == 1)
    lenses = rng.permutation(lenses)[:n_per_class]
    pools = {}
    for kind in sorted(set(dataset.kinds[dataset.labels != 1].tolist())):
        idx = np.flatnonzero((dataset.labels != 1) & (dataset.kinds == kind))
        pools[kind] = list(rng.permutation(idx))
    others: list[int] = []
    while len(others) < n_per_class and any(pools.values()):
        for kind in list(pools):
            if pools[kind] and len(others) < n_per_class:
                others.append(int(pools[kind].pop()))
    return lenses, np.asarray(others, dtype=int)


def _value(dataset: DataSet, name: str, i: int) -> float:
    arr = dataset.params.get(name)
    return float(arr[i]) if arr is not None else float("nan")


def _title(dataset: DataSet, i: int) -> str:
    kind = str(dataset.kinds[i])
    if dataset.labels[i] != 1:
        return KIND_NAMES.get(kind, kind.replace("_", " "))
    parts = []
    theta_e = _value(dataset, "theta_e", i)
    mu = _value(dataset, "magnification", i)
    snr = _value(dataset, "snr", i)
    line1 = "lens" + (f"  θE={theta_e:.2f}″" if np.isfinite(theta_e) else "")
    if np.isfinite(mu):
        parts.append(f"μ={mu:.1f}")
    if np.isfinite(snr):
        parts.append(f"S/N={snr:.0f}")
    return line1 + ("\n" + "  ".join(parts) if parts else "")


def plot_gallery(dataset: DataSet, path: str | Path, *, n_per_class: int = 8, seed: int = 0,
                 ncols: int | None = None, title: str | None = None, dpi: int = 110) -> Path:
    """Write a PNG grid: up to ``n_per_class`` lenses (top) and non-lenses (bottom).

    Each panel is asinh-stretched on its own (sky black, 2 sigma soft knee), or for a 3-band set
    a Lupton RGB composite (:func:`lensfind.display.colour_composite`), and titled with the
    kind and, for lenses, the Einstein radius, the source magnification and S/N. A 1 arcsec bar
    is drawn when the pixel scale is known. Returns ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if len(dataset) == 0:
        raise ValueError("cannot plot a gallery of an empty data set")
    if n_per_class < 1:
        raise ValueError(f"n_per_class = {n_per_class!r} is invalid: expected an integer >= 1")
    lenses, others = _pick(dataset, n_per_class, seed)
    groups = [(g, name, color) for g, name, color in
              ((lenses, "lenses", LENS_COLOR), (others, "non-lenses", NONLENS_COLOR)) if len(g)]
    ncols = ncols or min(8, max(len(g) for g, _, _ in groups))
    rows = [(name, color, g[k:k + ncols]) for g, name, color in groups
            for k in range(0, len(g), ncols)]
    panel, gap, label_w, title_h, head_h = 1.55, 0.06, 0.35, 0.34, 0.32  # inches
    width = label_w + ncols * panel + (ncols - 1) * gap + 0.05
    height = head_h + len(rows) * (panel + title_h) + 0.05
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=label_w / width, right=1 - 0.05 / width, bottom=0.05 / height,
                        top=1 - (head_h + title_h) / height, wspace=gap / panel,
                        hspace=title_h / panel)
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    scale = dataset.pixel_scale
    size = dataset.images.shape[1:]
    for r, (name, color, idx) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c >= len(idx):
                ax.set_axis_off()
                continue
            i = int(idx[c])
            ax.imshow(show(dataset.images[i]), cmap="gray", origin="lower",
                      vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(_title(dataset, i), fontsize=7.5, color=color, pad=2, linespacing=1.1)
            for spine in ax.spines.values():
                spine.set_edgecolor(color)
                spine.set_linewidth(1.6)
            if scale and np.isfinite(scale) and 1.0 / scale < 0.6 * size[1]:
                x0, y0 = 0.06 * size[1], 0.07 * size[0]
                ax.plot([x0, x0 + 1.0 / scale], [y0, y0], color="white", lw=1.5)
                ax.text(x0 + 0.5 / scale, y0 + 0.03 * size[0], "1″", color="white",
                        fontsize=6.5, ha="center", va="bottom")
        if len(idx):
            axes[r, 0].set_ylabel(name, fontsize=9, color=color, fontweight="bold")
    if title is None:
        n, nl = len(dataset), dataset.n_lenses
        where = f"{Path(dataset.path).name}: " if dataset.path else ""
        px = f", {scale:g}″/px" if scale and np.isfinite(scale) else ""
        title = (f"{where}{n} cutouts ({nl} lenses, {n - nl} non-lenses), "
                 f"{size[1]}×{size[0]} px{px} — {_stretch_name(dataset.bands)}")
    fig.suptitle(title, fontsize=9, y=1 - 0.1 / height, va="top")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, facecolor="white")
    return path
