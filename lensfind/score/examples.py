"""The graded example candidate list shipped in ``data/examples/`` -- and how it was made.

Thirty 100x100 cutouts (float32 FITS, 0.05 arcsec/pixel, counts) of real Hubble galaxies from
images that ship inside installed packages -- the WFPC2 images of M32, NGC 4342 and NGC 5831 in
``mgefit/images/`` and galaxies of ``skimage.data.hubble_deep_field()`` -- ten in each grade:

* **A**: an obvious lensed arc or ring injected around the galaxy (peak ~25 sigma of the noise);
* **B**: a faint arc (peak ~3 sigma), easy to miss;
* **C**: no arc (the galaxy alone).

Arcs are a Sersic source ray-traced through an SIE + external shear lens centred on the galaxy
with the simulator's lensing functions (:func:`lensfind.sim.func.ray_shoot`,
:func:`lensfind.sim.profiles.sersic`), supersampled 3x and blurred by a Gaussian PSF of 0.1
arcsec FWHM. Each image gets Gaussian noise of 5 counts. Everything is seeded, so::

    python -m lensfind.score.examples --out data/examples

rewrites the same files. The list ``candidates.csv`` has the columns ``id, path, grade`` (what
the scorer reads), ``ra, dec`` (the true sky position for the crops of mgefit images, which
carry a WCS; empty for the deep field, which has none), and ``origin, injected, theta_e``
(passed through: where the galaxy comes from, whether an arc was injected and its Einstein
radius in arcsec).
"""
from __future__ import annotations

import argparse
import csv
import math
import warnings
from pathlib import Path

import numpy as np

from lensfind.sim.func import grid, ray_shoot
from lensfind.sim.observe import downsample
from lensfind.sim.profiles import sersic
from lensfind.sim.sources import (
    brightest_smoothed_pixel,
    hdf_luminance,
    mgefit_dir,
    mgefit_image,
    resample_crop,
)

SIZE = 100
PIXEL_SCALE = 0.05  # arcsec / pixel
NOISE = 5.0  # counts
SEED = 20180601
PEAK_SNR = {"A": 25.0, "B": 3.0}
HDF_SCALE = 0.05
MGEFIT = {"m32_f814w_pc.fits": 0.0455, "ngc4342_f814w_pc.fits": 0.0455,
          "ngc5831_f702w_mosaic.fits": 0.100}


def _crop(img: np.ndarray, cy: float, cx: float, ratio: float, angle: float,
          flip: bool) -> np.ndarray:
    """A SIZE x SIZE resampling of ``img`` centred on (cy, cx); ``ratio`` field px / output px."""
    return resample_crop(img, cy, cx, SIZE, ratio, angle, flip, mode="nearest")


def _hdf_galaxies(n: int) -> list[tuple[float, float]]:
    """Centroids (row, col) of the ``n`` brightest isolated deep-field galaxies away from edges."""
    from skimage import filters, measure

    lin = hdf_luminance()
    sigma = float(np.median(np.abs(lin)) * 1.4826)
    labels = measure.label(filters.gaussian(lin, 1.0) > 4 * sigma)
    props = [p for p in measure.regionprops(labels, intensity_image=lin) if 150 <= p.area <= 3000]
    props.sort(key=lambda p: (-float(p.image_intensity.sum()), p.label))
    h, w = lin.shape
    out: list[tuple[float, float]] = []
    for p in props:
        cy, cx = p.centroid_weighted
        if min(cy, cx, h - cy, w - cx) < SIZE:
            continue
        if any(math.hypot(cy - a, cx - b) < 60 for a, b in out):
            continue
        out.append((float(cy), float(cx)))
        if len(out) == n:
            break
    return out


def base_cutouts(rng: np.random.Generator) -> list[dict]:
    """Thirty real-galaxy cutouts (unit robust peak) with their origin and sky position."""
    from astropy.io import fits
    from astropy.wcs import WCS

    bases = []
    for name, scale in MGEFIT.items():
        img = mgefit_image(name)
        with fits.open(mgefit_dir() / name) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # old WFPC2 headers: EQUINOX as text, DATE-OBS
            wcs = WCS(hdul[0].header).celestial
        r0, c0 = brightest_smoothed_pixel(img)
        for zoom in (1.0, 1.8, 3.0, 5.0):
            ratio = PIXEL_SCALE * zoom / scale
            off = rng.normal(0.0, 1.5, size=2)
            cy, cx = r0 + off[0], c0 + off[1]
            cut = _crop(img, cy, cx, ratio, rng.uniform(0, 2 * math.pi), bool(rng.random() < 0.5))
            ra, dec = wcs.pixel_to_world_values(cx, cy)
            bases.append({"image": cut, "origin": f"mgefit:{name} zoom {zoom:g}",
                          "ra": f"{float(ra):.6f}", "dec": f"{float(dec):.6f}"})
    lin = hdf_luminance()
    for cy, cx in _hdf_galaxies(30 - len(bases)):
        zoom = rng.uniform(0.6, 0.9)  # magnify the small deep-field galaxies a little
        cut = _crop(lin, cy, cx, PIXEL_SCALE * zoom / HDF_SCALE, rng.uniform(0, 2 * math.pi),
                    bool(rng.random() < 0.5))
        bases.append({"image": cut, "origin": f"hubble_deep_field:{cx:.0f},{cy:.0f}",
                      "ra": "", "dec": ""})
    for b in bases:
        img = b["image"].astype(np.float64)
        img -= np.median(np.concatenate([img[:5].ravel(), img[-5:].ravel(),
                                         img[:, :5].ravel(), img[:, -5:].ravel()]))
        b["image"] = img / np.percentile(img, 99.8)
    return bases


def lensed_arc(rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """A lensed Sersic source (unit peak) around the cutout centre and its theta_E [arcsec]."""
    from scipy import ndimage

    sub = 3
    x, y = grid(SIZE, PIXEL_SCALE, sub, dtype=np.float64)
    theta_e = float(rng.uniform(0.7, 1.5))
    q, phi = rng.uniform(0.6, 0.95), rng.uniform(0, math.pi)
    e = (1 - q) / (1 + q)
    lens = {"theta_e": [theta_e], "e1": [e * math.cos(2 * phi)], "e2": [e * math.sin(2 * phi)],
            "center_x": [0.0], "center_y": [0.0],
            "g1": [rng.normal(0, 0.03)], "g2": [rng.normal(0, 0.03)]}
    bx, by = ray_shoot(x, y, {k: np.asarray(v) for k, v in lens.items()})
    r = rng.uniform(0.03, 0.3)
    ang = rng.uniform(0, 2 * math.pi)
    src = sersic(bx, by, [1.0], [rng.uniform(0.08, 0.2)], [1.0], [rng.normal(0, 0.1)],
                 [rng.normal(0, 0.1)], [r * math.cos(ang)], [r * math.sin(ang)])
    arc = downsample(np.asarray(src, np.float64), sub)[0]
    fwhm_pix = 0.1 / PIXEL_SCALE
    arc = ndimage.gaussian_filter(arc, fwhm_pix / 2.3548)
    return arc / arc.max(), theta_e


def make_examples(out_dir: str | Path = "data/examples", *, seed: int = SEED) -> Path:
    """Write ``out_dir/candidates.csv`` and ``out_dir/cutouts/*.fits``; returns the CSV path."""
    from astropy.io import fits
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    (out_dir / "cutouts").mkdir(parents=True, exist_ok=True)
    bases = base_cutouts(rng)
    grades = ["A", "B", "C"] * 10
    order = rng.permutation(len(bases))
    rows = []
    for k, (i, grade) in enumerate(zip(order, grades), start=1):
        base = bases[int(i)]
        peak = float(rng.uniform(300.0, 1500.0))
        image = base["image"] * peak
        theta_e = ""
        if grade in PEAK_SNR:
            arc, te = lensed_arc(rng)
            image = image + arc * PEAK_SNR[grade] * NOISE
            theta_e = f"{te:.3f}"
        image = image + rng.normal(0.0, NOISE, image.shape)
        ident = f"ex{k:02d}"
        header = fits.Header()
        header["BUNIT"] = ("count", "sky-subtracted counts")
        header["PIXSCALE"] = (PIXEL_SCALE, "arcsec / pixel")
        header["OBJECT"] = (ident, "candidate id")
        header["ORIGIN"] = ("lensfind.score.examples", "generator (seeded)")
        header["GRADE"] = (grade, "A obvious arc, B faint arc, C none")
        fits.PrimaryHDU(image.astype(np.float32), header=header).writeto(
            out_dir / "cutouts" / f"{ident}.fits", overwrite=True)
        rows.append([ident, f"cutouts/{ident}.fits", grade, base["ra"], base["dec"],
                     base["origin"], "yes" if theta_e else "no", theta_e])
    rows.sort(key=lambda r: r[0])
    path = out_dir / "candidates.csv"
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(["id", "path", "grade", "ra", "dec", "origin", "injected", "theta_e"])
        w.writerows(rows)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="data/examples", help="folder to write (default %(default)s)")
    p.add_argument("--seed", type=int, default=SEED)
    args = p.parse_args(argv)
    print(make_examples(args.out, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
