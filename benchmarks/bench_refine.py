"""Refine on simulated lenses with known truth: coverage, 68 % errors, wall time per lens.

    PYTHONPATH=. python benchmarks/bench_refine.py [--lenses 50] [--seed 1] [--part K/M]
        [--prior-starts 5] [--out DIR] [--chains 2 --warmup 100 --draws 100]
    PYTHONPATH=. python benchmarks/bench_refine.py --pool DIR1/lenses.csv DIR2/lenses.csv
    # KERAS_BACKEND=jax for the JAX engine

The regression network is replaced by a stand-in whose posterior is exactly calibrated: its mean
is the truth plus a draw from N(0, diag(SIGMA^2)) and its covariance diag(SIGMA^2) (SIGMA: the
size of the demo regression's errors). The table gives, per lens parameter, the share of lenses
whose truth lies within 1/2/3 posterior standard deviations of the HMC posterior mean, the median
68 % half-width of the HMC posterior against SIGMA, the median absolute error of both, and the
wall time per lens (fit + MAP + NUTS) starting from the network's mean and, for
``--prior-starts`` lenses after the first, from the middle of the prior box instead. A
process's first lens includes compiling (once per pixel grid and NUTS settings); it is reported
apart. Coverage is given for all lenses and for those whose chains passed every diagnostic.
With ``--out`` every lens is appended to ``lenses.csv`` as it ends and a rerun resumes; ``--part
K/M`` lets M processes share one simulated set, and ``--pool`` tables their CSVs together.
"""
from __future__ import annotations

import argparse
import csv
import time
from pathlib import Path

import keras
import numpy as np

from lensfind.refine import forward, posterior, simulated
from lensfind.refine.diagnostics import Limits
from lensfind.refine.nuts import NutsSettings
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.sim.simulate import simulate

# 3.2" cutouts and Einstein radii up to 1.2", so that the arcs and counter-images fall inside
# (the simulator's default 0.5-1.5" put half of them outside the 2.4" cutouts of the first run)
CONFIG = simulated.clean_config(size=32, pixel_scale=0.1, n_lenses=1, lens={"theta_e": [0.5, 1.2]})
NETWORK = forward.LENS_NAMES[:5]
SIGMA = np.array([0.05, 0.05, 0.05, 0.02, 0.02])
SETTINGS = NutsSettings(chains=2, warmup=100, draws=100)
# the images are the forward model's at its own supersampling: no pixel-integration check
LIMITS = Limits(integration_chi2_max=float("inf"))


#: per-lens record fields of ``lenses.csv``: scalars, then arrays over LENS_NAMES
SCALARS = ("lens", "sampler", "compiled", "seconds", "flag", "prior_seconds", "prior_flag",
           "prior_error_theta_e")
ARRAYS = ("truth", "mean", "sd", "half68", "network")  # network: NaN for the shear


def run(lenses: int, prior_starts: int, seed: int = 1, out: Path | None = None,
        settings: NutsSettings = SETTINGS, part: tuple[int, int] = (1, 1)) -> list[dict]:
    """Refine the simulated lenses of part ``part = (k, m)`` (rows k-1, k-1+m, ... of ``lenses``
    drawn with ``seed``), the first ``prior_starts`` after the part's first lens again from the
    prior. With ``out``, each lens is appended to ``out/lenses.csv`` (a rerun skips the lenses
    already there) and the table so far rewritten to ``out/bench_refine.md``."""
    batch = simulate(CONFIG.replace(n_lenses=lenses), seed=seed)
    prior = BoxPrior.from_bounds(default_bounds(CONFIG.field_of_view))
    index = [forward.NAMES.index(n) for n in forward.LENS_NAMES]
    rng = np.random.default_rng(seed)
    # every lens's network draw, so that a part or a resumed run sees the same stand-in
    noise = rng.standard_normal((lenses, len(NETWORK)))
    csv_path = None if out is None else out / "lenses.csv"
    rows = read_records([csv_path]) if csv_path is not None and csv_path.exists() else []
    done = {r["lens"] for r in rows}
    timed = False        # the process's first lens includes compiling
    for k, row in enumerate(range(part[0] - 1, lenses, part[1])):
        if row in done:
            continue
        truth = simulated.truth(batch.params, row, CONFIG)
        lens_truth = truth[[forward.NAMES.index(n) for n in NETWORK]]
        network = posterior.NetworkPosterior(NETWORK, lens_truth + SIGMA * noise[row],
                                             np.diag(SIGMA ** 2))
        args = (batch.images[row], simulated.observation(batch.params, row, CONFIG),
                simulated.noise_model(batch.params, row, CONFIG), network, prior)
        t0 = time.perf_counter()
        refined = posterior.refine(*args, settings=settings, limits=LIMITS)
        seconds = time.perf_counter() - t0
        flat = refined.samples.reshape(-1, len(forward.NAMES))[:, index]
        lo, hi = np.percentile(flat, [15.865, 84.135], axis=0)
        result = {"lens": row, "sampler": sampler(settings), "compiled": int(not timed),
                  "truth": truth[index], "mean": flat.mean(axis=0), "sd": flat.std(axis=0),
                  "half68": (hi - lo) / 2, "seconds": seconds,
                  "network": np.array([network.mean[NETWORK.index(n)] if n in NETWORK
                                       else np.nan for n in forward.LENS_NAMES]),
                  "flag": refined.flag or "", "prior_seconds": None, "prior_flag": None,
                  "prior_error_theta_e": None}
        if 1 <= k <= prior_starts:
            t0 = time.perf_counter()
            from_prior = posterior.refine(*args, settings=settings, limits=LIMITS, start="prior")
            result["prior_seconds"] = time.perf_counter() - t0
            fp = from_prior.samples.reshape(-1, len(forward.NAMES))[:, index]
            result["prior_error_theta_e"] = abs(fp[:, 0].mean() - truth[index][0])
            result["prior_flag"] = from_prior.flag or ""
        rows.append(result)
        timed = True
        print(f"lens {row}: {seconds:.1f} s, {refined.flag or 'converged'}", flush=True)
        if out is not None:
            write_record(csv_path, result)
            (out / "bench_refine.md").write_text(table(rows) + "\n")
    return rows


def _columns() -> list[str]:
    return list(SCALARS) + [f"{a}_{n}" for a in ARRAYS for n in forward.LENS_NAMES]


def write_record(path: Path, result: dict) -> None:
    """Append one lens's ``result`` to the CSV ``path`` (header first when new)."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(_columns())
        writer.writerow([("" if result[k] is None else result[k]) for k in SCALARS]
                        + [float(v) for a in ARRAYS for v in result[a]])


def read_records(paths) -> list[dict]:
    """The lens records of ``lenses.csv`` files (several are pooled; lens numbers are kept)."""
    rows = []
    for path in paths:
        with Path(path).open(newline="") as f:
            for line in csv.DictReader(f):
                rec = {"lens": int(line["lens"]), "sampler": line["sampler"],
                       "compiled": line["compiled"] == "1", "seconds": float(line["seconds"]),
                       "flag": line["flag"], "prior_flag": line["prior_flag"] or None}
                for k in ("prior_seconds", "prior_error_theta_e"):
                    rec[k] = float(line[k]) if line[k] else None
                for a in ARRAYS:
                    rec[a] = np.array([float(line[f"{a}_{n}"]) for n in forward.LENS_NAMES])
                rows.append(rec)
    return rows


def _device() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        return f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    return backend


def sampler(settings: NutsSettings) -> str:
    """The NUTS settings and the engine, as one table cell."""
    return (f"NUTS {settings.chains} x ({settings.warmup} + {settings.draws}) on "
            f"{_device()}")


def _coverage(z: np.ndarray) -> str:
    return " / ".join(f"{100 * np.mean(z <= k):.0f}" for k in (1, 2, 3)) if z.size else "-"


def table(rows: list[dict]) -> str:
    """Coverage, widths, errors and wall time of lens records (:func:`run`, :func:`read_records`)
    as Markdown."""
    ok = np.array([not r["flag"] for r in rows])
    truth, mean, sd, half, net = (np.array([r[a] for r in rows]) for a in ARRAYS)
    z = np.abs(mean - truth) / sd
    binomial = 100 * np.sqrt(0.683 * 0.317 / len(rows))
    lines = [f"{len(rows)} simulated lenses of {CONFIG.size} x {CONFIG.size} pixels of "
             f"{CONFIG.pixel_scale}\", {' / '.join(sorted({r['sampler'] for r in rows}))}; "
             f"network stand-in sigma = { {n: float(s) for n, s in zip(NETWORK, SIGMA)} }; "
             f"one binomial sigma of the 1-sigma coverage: {binomial:.1f} points", "",
             "| parameter | HMC coverage 1/2/3 sigma [%] | converged lenses only "
             f"({ok.sum()}) | HMC 68 % half-width (median) | network sigma | "
             "HMC median abs error | network median abs error |",
             "|---|---|---|---|---|---|---|"]
    for i, name in enumerate(forward.LENS_NAMES):
        j = NETWORK.index(name) if name in NETWORK else None
        net_sigma = "-" if j is None else f"{SIGMA[j]:.3f}"
        net_err = "-" if j is None else f"{np.median(np.abs(net[:, i] - truth[:, i])):.4f}"
        lines.append(f"| {name} | {_coverage(z[:, i])} | {_coverage(z[ok, i])} | "
                     f"{np.median(half[:, i]):.4f} | {net_sigma} | "
                     f"{np.median(np.abs(mean[:, i] - truth[:, i])):.4f} | {net_err} |")
    lines.append(f"| all 7 pooled | {_coverage(z.ravel())} | {_coverage(z[ok].ravel())} "
                 "| | | | |")
    kinds = {}
    for r in rows:
        if r["flag"]:
            kind = r["flag"].split("(")[0].split(" ")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    seconds = np.array([r["seconds"] for r in rows])
    first = np.array([r["compiled"] for r in rows], bool)
    lines += ["", f"flagged (a diagnostic failed): {(~ok).sum()} of {len(rows)} "
              f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items())) or 'none'})"]
    if first.any():
        lines.append("wall time of a process's first lens (includes compiling): "
                     + ", ".join(f"{t:.1f} s" for t in seconds[first]))
    if (~first).any():
        lines.append(f"wall time per lens from the network's mean, after the first: median "
                     f"{np.median(seconds[~first]):.1f} s (mean {seconds[~first].mean():.1f} s)")
    prior = [r for r in rows if r["prior_seconds"] is not None]
    if prior:
        ps = np.array([r["prior_seconds"] for r in prior])
        ns = np.array([r["seconds"] for r in prior])
        err = np.median([r["prior_error_theta_e"] for r in prior])
        net_err = np.median([abs(r["mean"][0] - r["truth"][0]) for r in prior])
        lines.append(f"same {len(prior)} lenses from the middle of the prior box: median "
                     f"{np.median(ps):.1f} s against {np.median(ns):.1f} s from the network; "
                     f"theta_e median abs error {err:.4f} against {net_err:.4f}; flagged "
                     f"{sum(1 for r in prior if r['prior_flag'])} of {len(prior)}")
    return "\n".join(lines)


def _part(text: str) -> tuple[int, int]:
    k, _, m = text.partition("/")
    if not (k.isdigit() and m.isdigit() and 1 <= int(k) <= int(m)):
        raise argparse.ArgumentTypeError(f"--part {text!r}: expected K/M with 1 <= K <= M")
    return int(k), int(m)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenses", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1, help="of the simulated set")
    parser.add_argument("--part", type=_part, default=(1, 1), metavar="K/M",
                        help="refine rows K-1, K-1+M, ... only (M processes share the set)")
    parser.add_argument("--prior-starts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None,
                        help="write lenses.csv and the table here (after every lens; resumes)")
    parser.add_argument("--pool", type=Path, nargs="+", default=None, metavar="CSV",
                        help="only print the table of these lenses.csv files, pooled")
    parser.add_argument("--chains", type=int, default=SETTINGS.chains)
    parser.add_argument("--warmup", type=int, default=SETTINGS.warmup)
    parser.add_argument("--draws", type=int, default=SETTINGS.draws)
    args = parser.parse_args(argv)
    settings = NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws)
    rows = (read_records(args.pool) if args.pool else
            run(args.lenses, args.prior_starts, args.seed, args.out, settings, args.part))
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
