"""Candidates to refine: a scores table with a regression run's posterior and FITS cutouts.

The table is what ``lensfind score --model RUN_DIR`` writes for a regression run ``MEMBER``
(:meth:`lensfind.tasks.regress.RegressTask.score_values`): per row ``MEMBER_<param>``,
``MEMBER_<param>_sigma`` and ``MEMBER_cov_<a>_<b>``, plus an id column and a column with the
path of the cutout (relative paths from the table's folder). A cutout is a sky-subtracted 2-D
FITS image whose header gives ``BUNIT`` (``electron`` for the Poisson model), ``PIXSCALE``
[arcsec], ``PSFFWHM`` [arcsec, Gaussian PSF] and either ``SKY`` [e-/pixel] and ``RDNOISE``
[e-] or a ``NOISE`` extension (per-pixel sigma, in its own ``BUNIT`` if it has one, else in
image units). ``NOISEUNT`` names the units of ``SKY`` and ``RDNOISE`` if they are not ``BUNIT``.
"""
from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lensfind.evaluate.parameters import predictions
from lensfind.refine.forward import LENS_NAMES, Observation
from lensfind.refine.likelihood import NoiseModel
from lensfind.refine.posterior import NetworkPosterior
from lensfind.sim import observe
from lensfind.validation import fail, lookup

PSF_SIZE = 15   # side of the Gaussian PSF kernel [pixels]

#: what lies beyond a cutout's edges -> its model's observation: ``sky`` (a real image or a crop
#: of a larger one: light from outside spills in through the PSF, so the model is rendered with a
#: margin of the PSF's half-width) or ``dark`` (zero padding, as lensfind's simulator draws its
#: uncropped cutouts)
EDGES: dict[str, Callable[[Observation], Observation]] = {
    "sky": Observation.with_sky_margin, "dark": lambda observation: observation}


@dataclasses.dataclass
class Candidate:
    """One cutout with the network's posterior; ``where`` names its table row."""

    id: str
    where: str
    image: np.ndarray
    units: str
    observation: Observation
    noise: NoiseModel
    network: NetworkPosterior


def network_posterior(row: dict, member: str, where: str) -> NetworkPosterior:
    """The regression member's mean and covariance of the lens parameters in ``row``; refused
    when the row has no regression posterior."""
    names = tuple(n for n in LENS_NAMES if f"{member}_{n}" in row)
    if "theta_e" not in names:
        members = [c[:-len("_theta_e")] for c in row if c.endswith("_theta_e")]
        fail(f"{where}: column {member}_theta_e (--member {member})", None,
             "a regression run's posterior: score the list with a regression run and name it "
             f"(regression members in the table: {members or 'none'})")
    columns = [f"{member}_{n}{suffix}" for n in names for suffix in ("", "_sigma")]
    columns += [c for c in row if c.startswith(f"{member}_cov_")]
    cells = {}
    for column in columns:
        try:
            cells[column] = np.array([float(row.get(column))])
        except (TypeError, ValueError):
            cells[column] = np.array([np.nan])
        if not np.isfinite(cells[column][0]):
            fail(f"{where}: {column}", row.get(column),
                 "a finite number (a candidate the regression run did not score?)")
    mean, cov = (a[0] for a in predictions(cells, member, names))
    return NetworkPosterior(names, mean, cov)


def read_cutout(path: Path, where: str, supersampling: int = 2,
                edges: str = "sky") -> tuple[np.ndarray, str, Observation, NoiseModel]:
    """Image, units, grid + PSF (edges as :data:`EDGES` ``[edges]``) and noise model of a FITS
    cutout (see the module doc)."""
    edge = lookup(EDGES, edges, "cutout edges")
    from astropy.io import fits
    if not path.is_file():
        fail(f"{where}: cutout", str(path), "an existing FITS file")
    with fits.open(path) as hdus:
        image = np.asarray(hdus[0].data, np.float32)
        header = hdus[0].header
        noise_hdu = hdus["NOISE"] if "NOISE" in hdus else None
        noise_map = None if noise_hdu is None else np.asarray(noise_hdu.data, np.float32)
        noise_units = None if noise_hdu is None else noise_hdu.header.get("BUNIT")
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        fail(f"{where}: cutout shape", image.shape, "a square 2-D image")
    for key in ("BUNIT", "PIXSCALE", "PSFFWHM"):
        if key not in header:
            fail(f"{where}: header keyword {key} of {path}", None, "present")
    units = str(header["BUNIT"])
    if noise_map is not None:
        if noise_map.shape != image.shape:
            fail(f"{where}: NOISE extension shape of {path}", noise_map.shape,
                 f"the image's {image.shape}")
        noise = NoiseModel(units=str(noise_units or units), noise_map=noise_map)
    else:
        for key in ("SKY", "RDNOISE"):
            if key not in header:
                fail(f"{where}: header keyword {key} of {path}", None,
                     "present (or a NOISE extension)")
        noise = NoiseModel(sky=float(header["SKY"]), read_noise=float(header["RDNOISE"]),
                           units=str(header.get("NOISEUNT", units)))
    scale = float(header["PIXSCALE"])
    psf = observe.gaussian_kernels(np.array([float(header["PSFFWHM"])]), PSF_SIZE, scale)[0]
    return image, units, edge(Observation(image.shape[0], scale, supersampling, psf)), noise


def write_cutout(path: Path, image: np.ndarray, pixel_scale: float, psf_fwhm: float, sky: float,
                 read_noise: float, units: str = "electron") -> Path:
    """A refine-ready cutout (what :func:`read_cutout` reads): ``image`` sky-subtracted in
    ``units``, ``pixel_scale`` and Gaussian ``psf_fwhm`` [arcsec], ``sky`` [units/pixel] and
    ``read_noise`` [units]."""
    from astropy.io import fits
    header = fits.Header()
    header["BUNIT"] = (units, "sky subtracted")
    header["PIXSCALE"] = (float(pixel_scale), "arcsec / pixel")
    header["PSFFWHM"] = (float(psf_fwhm), "arcsec, Gaussian PSF")
    header["SKY"] = (float(sky), f"{units} / pixel, subtracted")
    header["RDNOISE"] = (float(read_noise), units)
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(np.asarray(image, np.float32), header).writeto(path, overwrite=True)
    return path


def read_candidates(table: Path, member: str, id_column: str = "id", path_column: str = "path",
                    supersampling: int = 2, edges: str = "sky") -> list[Candidate]:
    """Every row of ``table`` (CSV), checked before any work is done."""
    with open(table, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for i, row in enumerate(rows, start=2):
        where = f"{table} line {i}"
        for column in (id_column, path_column):
            if not row.get(column):
                fail(f"{where}: column {column}", row.get(column), "a value")
        if row[id_column] in {c.id for c in out}:
            fail(f"{where}: column {id_column}", row[id_column], "ids that appear once")
        network = network_posterior(row, member, where)
        path = Path(row[path_column])
        image, units, obs, noise = read_cutout(path if path.is_absolute()
                                               else table.parent / path, where, supersampling,
                                               edges)
        noise.check(units, where)
        out.append(Candidate(row[id_column], where, image, units, obs, noise, network))
    return out

