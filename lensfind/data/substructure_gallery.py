"""A picture of what substructure does: one lens and source per row, each class beside the
smooth lens, with the residual against it."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from lensfind.display import asinh_stretch


def plot_substructure_variants(systems: Sequence[Mapping[str, np.ndarray]], path: str | Path, *,
                               reference: str = "no_sub", title: str = "") -> Path:
    """Rows of ``{class name: image}`` of the same lens and source (noiseless or with the same
    noise); each image is shown with its own asinh stretch, and every class but
    ``reference`` also as its residual ``image - image[reference]`` (a diverging colour scale
    symmetric about 0, in the images' units, e.g. electrons)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not systems:
        raise ValueError("no systems to draw: expected at least one {class: image} mapping")
    names = list(systems[0])
    if reference not in names:
        raise ValueError(f"reference class {reference!r} is not among {names}")
    others = [n for n in names if n != reference]
    ncol = len(names) + len(others)
    fig, axes = plt.subplots(len(systems), ncol, figsize=(2.3 * ncol, 2.4 * len(systems)),
                             squeeze=False)
    for r, system in enumerate(systems):
        ref = np.asarray(system[reference], np.float64)
        scale = max(float(np.max(np.abs([np.asarray(system[n]) - ref for n in others]))), 1e-12)
        panels = [(n, asinh_stretch(system[n]), "gray", 0.0, 1.0) for n in names]
        panels += [(f"{n} − {reference}", np.asarray(system[n], np.float64) - ref, "RdBu_r",
                    -scale, scale) for n in others]
        for ax, (label, image, cmap, lo, hi) in zip(axes[r], panels):
            shown = ax.imshow(image, origin="lower", cmap=cmap, vmin=lo, vmax=hi)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=9)
            if cmap == "RdBu_r" and label.startswith(others[-1]):
                fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.02)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
