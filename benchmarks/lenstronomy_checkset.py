"""An independent labelled check set made by lenstronomy, to measure how lensfind's models transfer.

Writes into ``--out``: ``cutouts/<id>.fits`` (2-D float32, electrons, sky subtracted, row 0 at the
bottom), ``candidates.csv`` (``id,path``: the list ``lensfind score`` reads) and ``truth.csv``
(the labels ``lensfind evaluate`` reads). With ``--model RUN_DIR`` it also scores the set with
those runs and evaluates the scores (``<out>/scores.csv``, ``<out>/evaluate/``).

Images are rendered by lenstronomy's own profiles (``ImageModel``: SIE + SHEAR mass,
SERSIC_ELLIPSE source and lens light, Gaussian PSF, supersampling 3); only the noise is added
here (Poisson on source + lens + sky, Gaussian read noise, NumPy, seeded).

Conventions (the same frame as lensfind, so no label changes sign): ``ImageData`` with
``transform_pix2angle = diag(s, s)`` and the origin at the cutout centre, i.e. lenstronomy's
``ra`` is lensfind's ``x`` (+column) and ``dec`` its ``y`` (+row); lenstronomy's SIE ``theta_E``,
``e1, e2`` and SHEAR ``gamma1, gamma2`` are lensfind's ``theta_e, e1, e2, g1, g2`` (see
``lensfind/sim/func.py`` and tests/sim/test_lensing.py, which checks the maths). A set rendered
with ``inverse=True`` (East left, ``ra = -x``) would flip ``center_x``, ``e2`` and ``g2``.

Priors, chosen apart from lensfind's defaults (``lensfind/sim/config.py``; its defaults in
brackets, the opt-in wider priors of issue #17, ``experiments/cv-lensflow-wide.toml``, in braces
where they differ):

* mass: theta_E U(0.5, 1.6)" [0.5, 1.5], axis ratio U(0.4, 1) [0.5, 1], centre uniform in
  +-0.3" [+-0.1"] {+-0.25"}, shear U(0, 0.12) [0, 0.08];
* lens light: Sersic r U(0.3, 1.5)" [0.3, 1.2], n U(2, 6) [2.5, 5], axis ratio U(0.4, 1) drawn
  apart from the mass, position angle = mass angle + U(-45, 45) deg [Gaussian sigma 10 deg, q
  within 0.1] {30 deg, 0.25}; its flux set by the lens-light to lensed-arc contrast,
  log-uniform in [0.2, 20] (total lens-light flux / lensed source flux in the cutout)
  [magnitude 19-21.5 {18.5-22} independent of the arc];
* source: Sersic r U(0.08, 0.6)" [0.05, 0.3] {0.05, 0.5}, n U(0.5, 2) [0.7, 2.5], axis ratio
  U(0.3, 1), magnitude U(21.5, 25.5) [22, 25.5], offset from the lens centre U(0, 0.9) theta_E
  (area-uniform) [0, 0.6] {0, 0.9};
* observation: Gaussian PSF FWHM U(0.06, 0.25)" [0.08, 0.12] {0.07, 0.2}, exposure
  U(400, 4000) s [1000, 2400] {600, 2400}, sky U(21.0, 22.8) mag/arcsec^2 [21.8, 22.6], read
  noise U(3, 8) e- [5], zero point 25.94; 100 x 100 pixels of 0.05".
* non-lenses (half the set by default): ``lens_galaxy`` (the lens light alone, magnitude
  U(18.5, 22)) and ``neighbour`` (the same plus a second galaxy 1-2.5" away, 0.5-3 mag fainter,
  r U(0.15, 0.6)", n U(1, 4)).

Truth columns: ``id, label, kind, morphology`` (lenses: ``ring`` when the source's half-light
radius exceeds its offset from the lens centre, else ``quad``, ``double`` or ``single`` from the
number of images of the source centre found by lenstronomy's ``LensEquationSolver``), ``theta_e,
e1, e2, g1, g2, center_x, center_y``, ``magnification`` (lensfind's: lensed source flux in the
cutout before the PSF / unlensed flux), ``snr`` (lensfind's arc S/N: sqrt(sum s^2 / variance),
s the PSF-convolved lensed source, variance = source + lens + sky + read noise^2), ``contrast``,
``source_mag, lensed_source_mag, lens_mag, source_r_sersic, source_offset`` (theta_E units),
``light_misalignment_deg, psf_fwhm, n_images``. Parameters that do not apply are empty.

Example (a few minutes on 2 CPU cores for 900 cutouts)::

    python benchmarks/lenstronomy_checkset.py --n 900 --out benchmarks/out/checkset \\
        --model runs/cv-lensflow/<run> --model runs/regress-lensflow/<run>
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

import numpy as np

ZERO_POINT = 25.94
SUPERSAMPLING = 3
KINDS = ("lens_galaxy", "neighbour")
TRUTH_COLUMNS = ("id", "label", "kind", "morphology", "theta_e", "e1", "e2", "g1", "g2",
                 "center_x", "center_y", "magnification", "snr", "contrast", "source_mag",
                 "lensed_source_mag", "lens_mag", "source_r_sersic", "source_offset",
                 "light_misalignment_deg", "psf_fwhm", "n_images")


def _e(phi: float, q: float) -> tuple[float, float]:
    """lenstronomy's ``phi_q2_ellipticity``: ``(1-q)/(1+q) (cos 2phi, sin 2phi)``."""
    f = (1 - q) / (1 + q)
    return f * math.cos(2 * phi), f * math.sin(2 * phi)


def _mag(flux: float, exposure: float) -> float:
    return ZERO_POINT - 2.5 * math.log10(max(flux, 1e-30) / exposure)


class Renderer:
    """lenstronomy image models for one cutout size and pixel scale."""

    def __init__(self, size: int, pixel_scale: float):
        from lenstronomy.Data.imaging_data import ImageData
        from lenstronomy.LensModel.lens_model import LensModel
        from lenstronomy.LensModel.Solver.lens_equation_solver import LensEquationSolver
        from lenstronomy.LightModel.light_model import LightModel

        self.size, self.scale = size, pixel_scale
        origin = -(size - 1) / 2 * pixel_scale
        self.data = ImageData(image_data=np.zeros((size, size)),
                              transform_pix2angle=np.diag([pixel_scale, pixel_scale]),
                              ra_at_xy_0=origin, dec_at_xy_0=origin)
        self.lens_model = LensModel(["SIE", "SHEAR"])
        self.sersic = LightModel(["SERSIC_ELLIPSE"])
        self.solver = LensEquationSolver(self.lens_model)

    def model(self, fwhm: float, *, source: bool, lights: int):
        from lenstronomy.Data.psf import PSF
        from lenstronomy.ImSim.image_model import ImageModel
        from lenstronomy.LightModel.light_model import LightModel
        psf = PSF(psf_type="GAUSSIAN", fwhm=fwhm, pixel_size=self.scale, truncation=5)
        return ImageModel(self.data, psf, lens_model_class=self.lens_model if source else None,
                          source_model_class=self.sersic if source else None,
                          lens_light_model_class=LightModel(["SERSIC_ELLIPSE"] * lights),
                          kwargs_numerics={"supersampling_factor": SUPERSAMPLING})

    def unit_flux(self, kwargs: dict) -> float:
        """Total flux of a Sersic with ``amp = 1`` (lenstronomy's analytic integral)."""
        return float(self.sersic.total_flux([{**kwargs, "amp": 1.0}])[0])


def _galaxy(rng, cx: float, cy: float, r: tuple, n: tuple, q_range=(0.4, 1.0), phi=None):
    e1, e2 = _e(rng.uniform(0, math.pi) if phi is None else phi, rng.uniform(*q_range))
    return {"R_sersic": rng.uniform(*r), "n_sersic": rng.uniform(*n), "e1": e1, "e2": e2,
            "center_x": cx, "center_y": cy}


def _observe(rng, signal: np.ndarray, scale: float, exposure: float) -> tuple[np.ndarray, float]:
    """Sky-subtracted electrons with Poisson (signal + sky) and Gaussian read noise; returns the
    image and the background variance per pixel (sky + read noise^2)."""
    sky = 10 ** (-0.4 * (rng.uniform(21.0, 22.8) - ZERO_POINT)) * exposure * scale ** 2
    read = rng.uniform(3, 8)
    counts = rng.poisson(np.clip(signal, 0, None) + sky) - sky + rng.normal(0, read, signal.shape)
    return counts.astype(np.float32), sky + read ** 2


def _morphology(renderer: Renderer, kwargs_lens, sx, sy, r_src, offset) -> tuple[str, int]:
    x, _ = renderer.solver.image_position_from_source(
        sx, sy, kwargs_lens, min_distance=renderer.scale, search_window=renderer.size *
        renderer.scale, precision_limit=1e-10, num_iter_max=100)
    n = len(x)
    if r_src > offset:
        return "ring", n
    return {1: "single", 2: "double", 3: "double"}.get(n, "quad"), n


def lens(renderer: Renderer, rng) -> tuple[np.ndarray, dict]:
    """One lens: image and truth row (see the module docstring for the priors)."""
    s = renderer.scale
    theta = rng.uniform(0.5, 1.6)
    cx, cy = rng.uniform(-0.3, 0.3, 2)
    phi_mass = rng.uniform(0, math.pi)
    e1, e2 = _e(phi_mass, rng.uniform(0.4, 1.0))
    gamma, phi_g = rng.uniform(0, 0.12), rng.uniform(0, math.pi)
    g1, g2 = gamma * math.cos(2 * phi_g), gamma * math.sin(2 * phi_g)
    kwargs_lens = [{"theta_E": theta, "e1": e1, "e2": e2, "center_x": cx, "center_y": cy},
                   {"gamma1": g1, "gamma2": g2, "ra_0": cx, "dec_0": cy}]
    offset = theta * math.sqrt(rng.uniform(0, 0.9 ** 2))
    angle = rng.uniform(0, 2 * math.pi)
    sx, sy = cx + offset * math.cos(angle), cy + offset * math.sin(angle)
    src = _galaxy(rng, sx, sy, (0.08, 0.6), (0.5, 2.0), (0.3, 1.0))
    source_mag = rng.uniform(21.5, 25.5)
    misalign = rng.uniform(-45, 45)
    light = _galaxy(rng, cx, cy, (0.3, 1.5), (2.0, 6.0), (0.4, 1.0),
                    phi=phi_mass + math.radians(misalign))
    contrast = 10 ** rng.uniform(math.log10(0.2), math.log10(20))
    fwhm = rng.uniform(0.06, 0.25)
    exposure = rng.uniform(400, 4000)
    # unit fluxes first: the arc's in-cutout flux before the PSF is the magnification
    src["amp"] = 1.0 / renderer.unit_flux(src)
    light["amp"] = 1.0 / renderer.unit_flux(light)
    model = renderer.model(fwhm, source=True, lights=1)
    arc = model.image(kwargs_lens, [src], [light], lens_light_add=False)
    mu = float(model.image(kwargs_lens, [src], [light], lens_light_add=False,
                           unconvolved=True).sum())
    galaxy = model.image(kwargs_lens, [src], [light], source_add=False)
    flux = 10 ** (-0.4 * (source_mag - ZERO_POINT)) * exposure
    lensed = arc * flux
    lens_flux = contrast * mu * flux
    signal = lensed + galaxy * lens_flux
    image, background = _observe(rng, signal, s, exposure)
    variance = np.clip(signal, 0, None) + background
    morphology, n_images = _morphology(renderer, kwargs_lens, sx, sy, src["R_sersic"], offset)
    return image, {
        "label": 1, "kind": "lens", "morphology": morphology, "theta_e": theta, "e1": e1,
        "e2": e2, "g1": g1, "g2": g2, "center_x": cx, "center_y": cy, "magnification": mu,
        "snr": float(np.sqrt(np.sum(lensed ** 2 / variance))), "contrast": contrast,
        "source_mag": source_mag, "lensed_source_mag": _mag(mu * flux, exposure),
        "lens_mag": _mag(lens_flux, exposure), "source_r_sersic": src["R_sersic"],
        "source_offset": offset / theta, "light_misalignment_deg": misalign, "psf_fwhm": fwhm,
        "n_images": n_images}


def non_lens(renderer: Renderer, rng, kind: str) -> tuple[np.ndarray, dict]:
    """A lens galaxy alone, or with a neighbour (``kind``)."""
    cx, cy = rng.uniform(-0.3, 0.3, 2)
    light = _galaxy(rng, cx, cy, (0.3, 1.5), (2.0, 6.0))
    lights = [light]
    if kind == "neighbour":
        r, a = rng.uniform(1.0, 2.5), rng.uniform(0, 2 * math.pi)
        lights.append(_galaxy(rng, cx + r * math.cos(a), cy + r * math.sin(a), (0.15, 0.6),
                              (1.0, 4.0)))
    fwhm = rng.uniform(0.06, 0.25)
    exposure = rng.uniform(400, 4000)
    mag = rng.uniform(18.5, 22.0)
    fluxes = [10 ** (-0.4 * (mag - ZERO_POINT)) * exposure]
    if kind == "neighbour":
        fluxes.append(fluxes[0] * 10 ** (-0.4 * rng.uniform(0.5, 3.0)))
    for kw, f in zip(lights, fluxes):
        kw["amp"] = f / renderer.unit_flux(kw)
    signal = renderer.model(fwhm, source=False, lights=len(lights)).image(
        kwargs_lens_light=lights, source_add=False)
    image, _ = _observe(rng, signal, renderer.scale, exposure)
    return image, {"label": 0, "kind": kind, "lens_mag": mag, "psf_fwhm": fwhm}


def write_checkset(out: str | Path, n: int, *, seed: int = 0, size: int = 100,
                   pixel_scale: float = 0.05, lens_fraction: float = 0.5) -> tuple[Path, Path]:
    """Render ``n`` cutouts into ``out``; returns ``(candidates.csv, truth.csv)``."""
    from astropy.io import fits

    out = Path(out)
    (out / "cutouts").mkdir(parents=True, exist_ok=True)
    renderer = Renderer(size, pixel_scale)
    rng = np.random.default_rng(seed)
    n_lens = int(round(lens_fraction * n))
    width = max(5, len(str(n - 1)))
    candidates, truth = [], []
    for i in range(n):
        item = np.random.default_rng([seed, i])
        if i < n_lens:
            image, row = lens(renderer, item)
        else:
            image, row = non_lens(renderer, item, KINDS[(i - n_lens) % len(KINDS)])
        ident = f"lt{i:0{width}d}"
        header = fits.Header()
        header["BUNIT"] = ("electron", "counts (electrons), sky subtracted")
        header["PIXSCALE"] = (pixel_scale, "arcsec / pixel")
        header["ORIGIN"] = ("lenstronomy", "benchmarks/lenstronomy_checkset.py")
        fits.PrimaryHDU(image, header=header).writeto(out / "cutouts" / f"{ident}.fits",
                                                      overwrite=True)
        candidates.append([ident, f"cutouts/{ident}.fits"])
        truth.append([ident] + [_cell(row.get(c)) for c in TRUTH_COLUMNS[1:]])
    order = rng.permutation(n)   # lenses and non-lenses interleaved in the lists
    paths = out / "candidates.csv", out / "truth.csv"
    for path, header, rows in ((paths[0], ("id", "path"), candidates),
                               (paths[1], TRUTH_COLUMNS, truth)):
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(rows[k] for k in order)
    return paths


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="benchmarks/out/checkset", help="output folder")
    parser.add_argument("--n", type=int, default=900, help="cutouts (default 900)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=100, help="cutout side in pixels")
    parser.add_argument("--pixel-scale", type=float, default=0.05, help="arcsec per pixel")
    parser.add_argument("--lens-fraction", type=float, default=0.5)
    parser.add_argument("--model", dest="models", action="append", default=[],
                        metavar="RUN_DIR", help="score the set with this run and evaluate it")
    parser.add_argument("--mc-samples", type=int, default=1)
    args = parser.parse_args(argv)
    candidates, truth = write_checkset(args.out, args.n, seed=args.seed, size=args.size,
                                       pixel_scale=args.pixel_scale,
                                       lens_fraction=args.lens_fraction)
    print(f"wrote {args.n} cutouts: {candidates}, {truth}")
    if args.models:
        from lensfind.evaluate.report import evaluate_scores
        from lensfind.score.runner import ScoreOptions, score_candidates

        scores = Path(args.out) / "scores.csv"
        score_candidates(candidates, args.models, scores,
                         options=ScoreOptions(mc_samples=args.mc_samples, progress=False))
        with open(scores, newline="", encoding="utf-8") as fh:
            finding = "p_lens" in next(csv.reader(fh))   # a run that finds lenses
        bins = {"snr": None, "theta_e": None, "contrast": None} if finding else None
        result = evaluate_scores(scores, truth, Path(args.out) / "evaluate", bins=bins)
        print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
