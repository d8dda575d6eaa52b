"""Images per second of lensfind's simulator vs lenstronomy, at the same settings, in one run.

Both make noisy 100 x 100 lens images at 0.05"/pixel: SIE + external shear, elliptical Sersic
source and lens light, supersampling 3, Gaussian PSF (FWHM 0.1"), Poisson + Gaussian noise; the
lens parameters are the same (lensfind draws them, lenstronomy renders them one image at a time
with one reused ``ImageModel``, its fastest use). Runs alternate so that a busy machine slows both
alike. lensfind additionally computes the magnification and S/N of every lens.

Usage: ``python benchmarks/bench_simulator.py [--n 256] [--repeats 3] [--supersampling 3]``
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np


def lensfind_config(supersampling: int, size: int):
    from lensfind.sim.config import SimConfig
    return SimConfig(size=size, supersampling=supersampling, field_galaxies=0.0).replace(
        psf={"fwhm": (0.1, 0.1)}, artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0,
                                             "mask_probability": 0.0},
        noise={"exposure_time": (2000.0, 2000.0)})


def run_lensfind(cfg, n: int, seed: int):
    """(wall seconds, CPU seconds, batch)"""
    from lensfind.sim.simulate import simulate
    t, c = time.perf_counter(), time.process_time()
    batch = simulate(cfg, seed=seed, n_lenses=n, n_nonlenses=0)
    return time.perf_counter() - t, time.process_time() - c, batch


def lenstronomy_setup(cfg):
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel
    n, pix = cfg.size, cfg.pixel_scale
    data = ImageData(image_data=np.zeros((n, n)), transform_pix2angle=np.diag([pix, pix]),
                     ra_at_xy_0=-(n - 1) / 2 * pix, dec_at_xy_0=-(n - 1) / 2 * pix)
    psf = PSF(psf_type="GAUSSIAN", fwhm=cfg.psf.fwhm[0], pixel_size=pix, truncation=5)
    return ImageModel(data, psf, lens_model_class=LensModel(["SIE", "SHEAR"]),
                      source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                      lens_light_model_class=LightModel(["SERSIC_ELLIPSE"]),
                      kwargs_numerics={"supersampling_factor": cfg.supersampling})


def lenstronomy_kwargs(batch, cfg):
    """Per-image lenstronomy keyword lists reproducing the lensfind lenses."""
    from lensfind.sim.profiles import sersic_amp
    p = batch.params
    zp, pix = cfg.noise.zero_point, cfg.pixel_scale
    out = []
    for i in range(len(batch)):
        t = float(p["exposure_time"][i])
        f_src = t * 10 ** (-0.4 * (p["source_mag"][i] - zp))
        f_ll = t * 10 ** (-0.4 * (p["light_mag"][i] - zp))
        kl = [{"theta_E": p["theta_e"][i], "e1": p["e1"][i], "e2": p["e2"][i],
               "center_x": p["center_x"][i], "center_y": p["center_y"][i]},
              {"gamma1": p["g1"][i], "gamma2": p["g2"][i], "ra_0": p["center_x"][i],
               "dec_0": p["center_y"][i]}]
        ks = [{"amp": float(sersic_amp(f_src, p["source_r_sersic"][i], p["source_n_sersic"][i])),
               "R_sersic": p["source_r_sersic"][i], "n_sersic": p["source_n_sersic"][i],
               "e1": p["source_e1"][i], "e2": p["source_e2"][i],
               "center_x": p["source_x"][i], "center_y": p["source_y"][i]}]
        kll = [{"amp": float(sersic_amp(f_ll, p["light_r_sersic"][i], p["light_n_sersic"][i])),
                "R_sersic": p["light_r_sersic"][i], "n_sersic": p["light_n_sersic"][i],
                "e1": p["light_e1"][i], "e2": p["light_e2"][i],
                "center_x": p["light_x"][i], "center_y": p["light_y"][i]}]
        out.append((kl, ks, kll, float(p["sky"][i])))
    return out, pix


def run_lenstronomy(model, kwargs, pix, read_noise: float, seed: int):
    """(wall seconds, CPU seconds)"""
    rng = np.random.default_rng(seed)
    t, c = time.perf_counter(), time.process_time()
    for kl, ks, kll, sky in kwargs:
        # lenstronomy's images are e-/pixel here (amplitudes were set in e-/arcsec^2)
        img = model.image(kl, ks, kll)
        lam = np.maximum(img + sky, 0)
        img = rng.poisson(lam) - sky + read_noise * rng.standard_normal(img.shape)
    return time.perf_counter() - t, time.process_time() - c


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=256, help="lenses per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--supersampling", type=int, default=3)
    ap.add_argument("--size", type=int, default=100)
    args = ap.parse_args(argv)

    cfg = lensfind_config(args.supersampling, args.size)
    run_lensfind(cfg, 64, seed=0)                        # warm-up
    *_, ref = run_lensfind(cfg, args.n, seed=1)
    model = lenstronomy_setup(cfg)
    kw, pix = lenstronomy_kwargs(ref, cfg)
    run_lenstronomy(model, kw[:4], pix, cfg.noise.read_noise, 0)  # warm-up
    lf, ln = [], []
    for r in range(args.repeats):
        lf.append(run_lensfind(cfg, args.n, seed=1)[:2])
        ln.append(run_lenstronomy(model, kw, pix, cfg.noise.read_noise, r))
    lf, ln = np.array(lf).min(axis=0), np.array(ln).min(axis=0)  # best wall, best CPU
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f} (shared with other jobs: wall times are "
          "inflated; CPU time is the fairer measure)")
    print(f"settings: {cfg.size}x{cfg.size} px, {cfg.pixel_scale}\"/px, supersampling "
          f"{cfg.supersampling}, SIE+SHEAR, Sersic source + lens light, Gaussian PSF, noise; "
          f"{args.n} images x {args.repeats} repeats (best), one thread each")
    print(f"{'simulator':<14}{'images/s (wall)':>17}{'images/s (CPU)':>16}{'ms/image (CPU)':>16}"
          f"{'ratio (wall)':>14}{'ratio (CPU)':>13}")
    for name, (wall, cpu) in (("lensfind", lf), ("lenstronomy", ln)):
        print(f"{name:<14}{args.n / wall:>17.1f}{args.n / cpu:>16.1f}{1e3 * cpu / args.n:>16.2f}"
              f"{ln[0] / wall:>14.2f}{ln[1] / cpu:>13.2f}")


if __name__ == "__main__":
    main()
