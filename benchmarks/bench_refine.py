"""Refine on simulated lenses with known truth: coverage, 68 % errors, wall time per lens.

    PYTHONPATH=. python benchmarks/bench_refine.py [--lenses 50] [--prior-starts 5] [--out DIR]
        [--chains 2 --warmup 100 --draws 100]     # KERAS_BACKEND=jax for the JAX engine

The regression network is replaced by a stand-in whose posterior is exactly calibrated: its mean
is the truth plus a draw from N(0, diag(SIGMA^2)) and its covariance diag(SIGMA^2) (SIGMA: the
size of the demo regression's errors). The table gives, per lens parameter, the share of lenses
whose truth lies within 1/2/3 posterior standard deviations of the HMC posterior mean, the median
68 % half-width of the HMC posterior against SIGMA, the median absolute error of both, and the
wall time per lens (fit + MAP + NUTS) starting from the network's mean and, for
``--prior-starts`` lenses after the first, from the middle of the prior box instead. The first
lens's time includes compiling (once per pixel grid and NUTS settings); it is reported apart.
Coverage is given for all lenses and for those whose chains passed every diagnostic.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras
import numpy as np

from lensfind.refine import forward, nuts, posterior, simulated
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.sim.simulate import simulate

# 3.2" cutouts and Einstein radii up to 1.2", so that the arcs and counter-images fall inside
# (the simulator's default 0.5-1.5" put half of them outside the 2.4" cutouts of the first run)
CONFIG = simulated.clean_config(size=32, pixel_scale=0.1, n_lenses=1, lens={"theta_e": [0.5, 1.2]})
NETWORK = forward.LENS_NAMES[:5]
SIGMA = np.array([0.05, 0.05, 0.05, 0.02, 0.02])
SETTINGS = nuts.NutsSettings(chains=2, warmup=100, draws=100)


def run(lenses: int, prior_starts: int, seed: int = 1, out: Path | None = None,
        settings: nuts.NutsSettings = SETTINGS) -> dict:
    """Refine ``lenses`` simulated lenses (and ``prior_starts`` after the first again from the
    prior); with ``out``, the table so far is rewritten to ``out/bench_refine.md`` after every
    lens."""
    batch = simulate(CONFIG.replace(n_lenses=lenses), seed=seed)
    prior = BoxPrior.from_bounds(default_bounds(CONFIG.field_of_view))
    index = [forward.NAMES.index(n) for n in forward.LENS_NAMES]
    rng = np.random.default_rng(seed)
    rows = []
    for row in range(lenses):
        truth = simulated.truth(batch.params, row, CONFIG)
        lens_truth = truth[[forward.NAMES.index(n) for n in NETWORK]]
        network = posterior.NetworkPosterior(NETWORK, lens_truth + SIGMA * rng.standard_normal(5),
                                             np.diag(SIGMA ** 2))
        args = (batch.images[row], simulated.observation(batch.params, row, CONFIG),
                simulated.noise_model(batch.params, row, CONFIG), network, prior)
        t0 = time.perf_counter()
        refined = posterior.refine(*args, settings=settings)
        seconds = time.perf_counter() - t0
        flat = refined.samples.reshape(-1, len(forward.NAMES))[:, index]
        lo, hi = np.percentile(flat, [15.865, 84.135], axis=0)
        result = {"truth": truth[index], "mean": flat.mean(axis=0), "sd": flat.std(axis=0),
                  "half68": (hi - lo) / 2, "network": network.mean, "seconds": seconds,
                  "flag": refined.flag, "prior_seconds": None, "prior_flag": None}
        if 1 <= row <= prior_starts:
            t0 = time.perf_counter()
            from_prior = posterior.refine(*args, settings=settings, start="prior")
            result["prior_seconds"] = time.perf_counter() - t0
            fp = from_prior.samples.reshape(-1, len(forward.NAMES))[:, index]
            result["prior_error"] = np.abs(fp.mean(axis=0) - truth[index])
            result["prior_flag"] = from_prior.flag
        rows.append(result)
        print(f"lens {row}: {seconds:.1f} s, {refined.flag or 'converged'}", flush=True)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "bench_refine.md").write_text(table({"rows": rows, "settings": settings})
                                                 + "\n")
    return {"rows": rows, "settings": settings}


def _device() -> str:
    backend = keras.backend.backend()
    if backend == "jax":
        import jax
        return f"jax {jax.__version__} on {jax.devices()[0].device_kind}"
    return backend


def table(results: dict) -> str:
    rows, settings = results["rows"], results["settings"]
    ok = np.array([not r["flag"] for r in rows])
    truth = np.array([r["truth"] for r in rows])
    mean = np.array([r["mean"] for r in rows])
    sd = np.array([r["sd"] for r in rows])
    half = np.array([r["half68"] for r in rows])
    z = np.abs(mean - truth) / sd
    lines = [f"{len(rows)} simulated lenses ({CONFIG.size} x {CONFIG.size} pixels of "
             f"{CONFIG.pixel_scale}\", NUTS {settings.chains} x ({settings.warmup} + "
             f"{settings.draws}), {_device()}); network stand-in sigma = "
             f"{ {n: float(s) for n, s in zip(NETWORK, SIGMA)} }",
             "", "| parameter | HMC coverage 1/2/3 sigma [%] | converged lenses only "
             f"({ok.sum()}) | HMC 68 % half-width (median) | network sigma | "
             "HMC median abs error | network median abs error |",
             "|---|---|---|---|---|---|---|"]
    for i, name in enumerate(forward.LENS_NAMES):
        cover = " / ".join(f"{100 * np.mean(z[:, i] <= k):.0f}" for k in (1, 2, 3))
        cover_ok = " / ".join(f"{100 * np.mean(z[ok, i] <= k):.0f}" if ok.any() else "-"
                              for k in (1, 2, 3))
        j = NETWORK.index(name) if name in NETWORK else None
        net_sigma = f"{SIGMA[j]:.3f}" if j is not None else "-"
        if j is None:
            net_err = "-"
        else:
            net_mean = np.array([r["network"][j] for r in rows])
            net_err = f"{np.median(np.abs(net_mean - truth[:, i])):.4f}"
        lines.append(f"| {name} | {cover} | {cover_ok} | {np.median(half[:, i]):.4f} | "
                     f"{net_sigma} | "
                     f"{np.median(np.abs(mean[:, i] - truth[:, i])):.4f} | {net_err} |")
    flagged = sum(1 for r in rows if r["flag"])
    seconds = np.array([r["seconds"] for r in rows])
    lines += ["", f"flagged (a diagnostic failed): {flagged} of {len(rows)}",
              f"wall time of the first lens (includes compiling): {seconds[0]:.1f} s"]
    if len(rows) > 1:
        lines.append(f"wall time per lens from the network's mean, after the first: median "
                     f"{np.median(seconds[1:]):.1f} s (mean {seconds[1:].mean():.1f} s)")
    prior = [r for r in rows if r["prior_seconds"] is not None]
    if prior:
        ps = np.array([r["prior_seconds"] for r in prior])
        ns = np.array([r["seconds"] for r in prior])
        err = np.median(np.array([r["prior_error"][0] for r in prior]))
        net_err = np.median(np.array([abs(r["mean"][0] - r["truth"][0]) for r in prior]))
        lines.append(f"same {len(prior)} lenses from the middle of the prior box: median "
                     f"{np.median(ps):.1f} s against {np.median(ns):.1f} s from the network; "
                     f"theta_e median abs error {err:.4f} against {net_err:.4f}; flagged "
                     f"{sum(1 for r in prior if r['prior_flag'])} of {len(prior)}")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lenses", type=int, default=50)
    parser.add_argument("--prior-starts", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None,
                        help="also write the table here (updated after every lens)")
    parser.add_argument("--chains", type=int, default=SETTINGS.chains)
    parser.add_argument("--warmup", type=int, default=SETTINGS.warmup)
    parser.add_argument("--draws", type=int, default=SETTINGS.draws)
    args = parser.parse_args(argv)
    settings = nuts.NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws)
    print(table(run(args.lenses, args.prior_starts, out=args.out, settings=settings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
