"""What refine writes per candidate (samples, corner plot, data / model / residual panel) and the
table of all of them (CSV + Markdown)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from lensfind.files import atomic_path, atomic_write_text
from lensfind.refine.forward import LENS_NAMES, NAMES, render
from lensfind.refine.posterior import NetworkPosterior, Refined

def save_samples(path: Path, refined: Refined) -> None:
    """Posterior draws ``(chains, draws, P)`` with parameter names, MAP and start (.npz)."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, samples=refined.samples, names=np.array(NAMES),
                            map=refined.map, start=refined.start)


def corner_plot(path: Path, refined: Refined, truth: np.ndarray | None = None) -> None:
    """Corner plot of the lens parameters (and the source position), with the ``truth``
    ``(P,)`` where it is known (NaN: unknown)."""
    import corner
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = LENS_NAMES + ("source_x", "source_y")
    index = [NAMES.index(n) for n in names]
    flat = refined.samples.reshape(-1, len(NAMES))[:, index]
    with plt.style.context("default"):    # not a style another stage set (optuna: ggplot)
        fig = corner.corner(flat, labels=list(names), quantiles=[0.16, 0.5, 0.84],
                            truths=None if truth is None else
                            [None if np.isnan(v) else v for v in truth[index]], show_titles=True,
                            title_fmt=".3f", title_kwargs={"fontsize": 8},
                            label_kwargs={"fontsize": 8})
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=70)
    plt.close(fig)


def residual_panel(path: Path, image: np.ndarray, refined: Refined, observation, noise) -> None:
    """Data, model at the posterior mean and (data - model) / sigma side by side."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from keras import ops
    mean = refined.samples.reshape(-1, len(NAMES)).mean(axis=0)
    model = ops.convert_to_numpy(render(ops.convert_to_tensor(mean[None].astype(np.float32)),
                                        observation))[0]
    sigma = np.sqrt(noise.variance(model))
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    vmax = float(np.percentile(image, 99.5))
    for ax, data, title, kw in ((axes[0], image, "data", {"vmin": 0, "vmax": vmax}),
                                (axes[1], model, "model (posterior mean)",
                                 {"vmin": 0, "vmax": vmax}),
                                (axes[2], (image - model) / sigma, "(data - model) / sigma",
                                 {"vmin": -4, "vmax": 4, "cmap": "RdBu_r"})):
        im = ax.imshow(data, origin="lower", **kw)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def summary_row(candidate_id: str, refined: Refined, network: NetworkPosterior,
                truth: np.ndarray | None = None) -> dict:
    """One table row: per lens parameter the posterior mean, 16th/84th percentiles, R-hat,
    bulk ESS, the network's mean and sigma and, with ``truth`` ``(P,)``, the true value; then
    the diagnostics."""
    row = {"id": candidate_id}
    summary = refined.summary()
    net = dict(zip(network.names, zip(network.mean, np.sqrt(np.diag(network.cov)))))
    for name in LENS_NAMES:
        row.update({name: summary[name]["mean"], f"{name}_p16": summary[name]["p16"],
                    f"{name}_p84": summary[name]["p84"],
                    f"{name}_rhat": refined.diagnostics[name]["rhat"],
                    f"{name}_ess": refined.diagnostics[name]["ess_bulk"],
                    f"{name}_network": net.get(name, (np.nan, np.nan))[0],
                    f"{name}_network_sigma": net.get(name, (np.nan, np.nan))[1]})
        if truth is not None:
            row[f"{name}_truth"] = float(truth[NAMES.index(name)])
    row.update({"flag": refined.flag or "", "divergent": refined.divergent,
                "step_size": refined.step_size, "leapfrogs": refined.leapfrogs,
                "integration_chi2": refined.integration_chi2,
                "seconds": sum(refined.seconds.values())})
    return row


def write_table(out: Path, rows: list[dict]) -> tuple[Path, Path]:
    """``refined.csv`` (every column) and ``refined.md`` (mean [p16, p84] beside the network's
    mean +- sigma and the truth where known, and the flag) in ``out``."""
    columns = max((list(row) for row in rows), key=len, default=["id"])
    csv_path, md_path = out / "refined.csv", out / "refined.md"
    with atomic_path(csv_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    head = ["id"] + [f"{n} HMC [68 %] / network (/ truth)" for n in LENS_NAMES] + \
        ["max R-hat", "flag"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["id"]]
        if "theta_e" not in row:          # failed before any draws
            lines.append("| " + " | ".join(cells + ["-"] * (len(head) - 2) + [row["flag"]])
                         + " |")
            continue
        for n in LENS_NAMES:
            truth = row.get(n + "_truth", float("nan"))
            cells.append(f"{row[n]:.3f} [{row[n + '_p16']:.3f}, {row[n + '_p84']:.3f}] / "
                         f"{row[n + '_network']:.3f} +- {row[n + '_network_sigma']:.3f}"
                         + ("" if np.isnan(truth) else f" / truth {truth:.3f}"))
        cells.append(f"{max(row[n + '_rhat'] for n in LENS_NAMES):.3f}")
        cells.append(row["flag"] or "converged")
        lines.append("| " + " | ".join(cells) + " |")
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return csv_path, md_path
