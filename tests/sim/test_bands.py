"""simulation.bands: multi-band cutouts, their colours, and lenstronomy agreement band by band."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim.colours import BAND_NAMES, COLOURS
from lensfind.sim.config import SimConfig
from lensfind.sim.params import BAND_PARAMS, band_param
from lensfind.sim.simulate import SimBatch, simulate, simulate_chunks
from lensfind.validation import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

GRI = [{"name": "g", "zero_point": 28.5, "psf_fwhm": [0.12, 0.12]},
       {"name": "r", "zero_point": 28.4, "psf_fwhm": [0.1, 0.1], "exposure_time": [500, 500]},
       {"name": "i", "zero_point": 28.2, "psf_fwhm": [0.08, 0.08]}]
SMALL = SimConfig(size=48, supersampling=2, n_lenses=8, n_nonlenses=8, bands=GRI)
QUIET = {"noise": {"enabled": False}, "field_galaxies": 0.0,
         "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0}}


def test_colour_table_names_every_band_for_every_class():
    for colour, bands in COLOURS.items():
        assert tuple(bands) == BAND_NAMES, colour


def test_shape_params_and_determinism():
    b = simulate(SMALL, seed=3)
    assert b.images.shape == (16, 48, 48, 3) and b.images.dtype == np.float32
    assert np.all(np.isfinite(b.images))
    for name in BAND_PARAMS:
        for band in "gri":
            assert b.params[band_param(name, band)].shape == (16,)
    assert np.array_equal(b.params["exposure_time"], b.params["exposure_time_g"])
    assert np.all(b.params["exposure_time_r"] == 500)
    lens = b.labels == 1
    combined = np.sqrt(sum(b.params[f"snr_{band}"][lens] ** 2 for band in "gri"))
    np.testing.assert_allclose(b.params["snr"][lens], combined, rtol=1e-5)
    merged = SimBatch.concatenate(list(simulate_chunks(SMALL, seed=3, chunk_size=5)))
    assert merged.images.tobytes() == b.images.tobytes()
    # the geometry is the single band's: same lens draws, bands or not
    single = simulate(SMALL.replace(bands=[]), seed=3)
    assert np.array_equal(single.params["theta_e"], b.params["theta_e"], equal_nan=True)
    assert single.images.ndim == 3 and "snr_g" not in single.params


def test_lens_light_is_red_and_sources_blue_in_the_noiseless_images():
    cfg = SMALL.replace(**QUIET, negatives={"lens_galaxy": 1.0, "neighbour": 0.0, "star": 0.0,
                                            "ring": 0.0, "spiral": 0.0, "real_hst": 0.0})
    b = simulate(cfg, seed=5, n_lenses=0, n_nonlenses=6)
    p = b.params
    g_i = p["light_mag_g"] - p["light_mag_i"]
    assert np.all((g_i >= 1.6 - 1e-4) & (g_i <= 2.7 + 1e-4))
    # counts in the images follow the recorded magnitudes, zero points and exposures (as ratios
    # to the i band: a 2.4" cutout loses light of large galaxies in every band alike)
    def expected(c):
        band = GRI[c]
        return p[f"exposure_time_{band['name']}"] * 10 ** (
            -0.4 * (p[f"light_mag_{band['name']}"].astype(np.float64) - band["zero_point"]))

    counts = b.images.sum(axis=(1, 2), dtype=np.float64)
    for c in (0, 1):
        np.testing.assert_allclose(counts[:, c] / counts[:, 2], expected(c) / expected(2),
                                   rtol=0.02)
    lenses = simulate(SMALL, seed=5, n_lenses=6, n_nonlenses=0).params
    assert np.all(lenses["source_mag_g"] - lenses["source_mag_i"] <= 0.8 + 1e-4)
    assert np.all(lenses["light_mag_g"] - lenses["source_mag_g"]
                  > lenses["light_mag_i"] - lenses["source_mag_i"])


def test_each_band_agrees_with_lenstronomy():
    pytest.importorskip("lenstronomy")
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    from lensfind.sim import observe
    from lensfind.sim.profiles import sersic_amp
    cfg = SimConfig(size=64, supersampling=3, bands=GRI).replace(**QUIET)
    b = simulate(cfg, seed=9, n_lenses=2, n_nonlenses=0)
    n, pix = cfg.size, cfg.pixel_scale
    data = ImageData(image_data=np.zeros((n, n)), transform_pix2angle=np.diag([pix, pix]),
                     ra_at_xy_0=-(n - 1) / 2 * pix, dec_at_xy_0=-(n - 1) / 2 * pix)
    p = {k: v.astype(np.float64) for k, v in b.params.items()}
    for c, band in enumerate(GRI):
        name, zp = band["name"], band["zero_point"]
        kernel = observe.gaussian_kernels(np.array(band["psf_fwhm"][:1]), cfg.psf.kernel_size,
                                          pix)[0]
        imsim = ImageModel(data, PSF(psf_type="PIXEL", kernel_point_source=kernel.astype(float)),
                           lens_model_class=LensModel(["SIE", "SHEAR"]),
                           source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                           lens_light_model_class=LightModel(["SERSIC_ELLIPSE"]),
                           kwargs_numerics={"supersampling_factor": 3})
        for i in range(2):
            t = p[f"exposure_time_{name}"][i]
            kl = [{"theta_E": p["theta_e"][i], "e1": p["e1"][i], "e2": p["e2"][i],
                   "center_x": p["center_x"][i], "center_y": p["center_y"][i]},
                  {"gamma1": p["g1"][i], "gamma2": p["g2"][i], "ra_0": p["center_x"][i],
                   "dec_0": p["center_y"][i]}]
            ks = [{"amp": sersic_amp(t * 10 ** (-0.4 * (p[f"source_mag_{name}"][i] - zp)),
                                     p["source_r_sersic"][i], p["source_n_sersic"][i]),
                   "R_sersic": p["source_r_sersic"][i], "n_sersic": p["source_n_sersic"][i],
                   "e1": p["source_e1"][i], "e2": p["source_e2"][i],
                   "center_x": p["source_x"][i], "center_y": p["source_y"][i]}]
            kll = [{"amp": sersic_amp(t * 10 ** (-0.4 * (p[f"light_mag_{name}"][i] - zp)),
                                      p["light_r_sersic"][i], p["light_n_sersic"][i]),
                    "R_sersic": p["light_r_sersic"][i], "n_sersic": p["light_n_sersic"][i],
                    "e1": p["light_e1"][i], "e2": p["light_e2"][i],
                    "center_x": p["light_x"][i], "center_y": p["light_y"][i]}]
            ref = imsim.image(kl, ks, kll)
            # the tolerance of the single-band test (float32 parameters, PSF cut at the edges)
            assert np.max(np.abs(b.images[i, :, :, c] - ref)) < 2e-3 * ref.max(), (name, i)


def test_band_errors_name_the_field_and_the_allowed_values():
    with pytest.raises(ConfigError, match=r"simulation.bands.name = 'u' .*'g'"):
        SimConfig(bands=[{"name": "u"}])
    with pytest.raises(ConfigError, match="each band once"):
        SimConfig(bands=[{"name": "g"}, {"name": "g"}])
    with pytest.raises(ConfigError, match=r"simulation.bands\['r'\].psf_fwhm"):
        SimConfig(bands=[{"name": "r", "psf_fwhm": [0.0, 1.0]}])


def test_min_snr_floors_the_combined_snr_of_the_bands():
    cfg = SMALL.replace(source={"magnitude": [24.0, 27.0], "min_snr": 30.0})
    unfloored = simulate(cfg.replace(source={"min_snr": 0.0}), seed=6, n_lenses=8,
                         n_nonlenses=0)
    assert np.any(unfloored.params["snr"] < 30.0)     # the floor has lenses to draw again
    b = simulate(cfg, seed=6, n_lenses=8, n_nonlenses=0)
    assert np.all(b.params["snr"] >= 30.0)
    combined = np.sqrt(sum(b.params[f"snr_{band}"] ** 2 for band in "gri"))
    np.testing.assert_allclose(b.params["snr"], combined, rtol=1e-5)


#: g, r, i with one PSF and depth: band images then differ by colour and morphology alone
ALIKE = [{"name": name, "zero_point": 28.0, "psf_fwhm": [0.1, 0.1],
          "exposure_time": [1000.0, 1000.0]} for name in "gri"]
#: noiseless lensed sources alone (the lens light 40 mag: ~1e-6 of the source)
SOURCES_ONLY = dict(QUIET, lens_light={"magnitude": [40.0, 40.0]})


def _scalar_misfit(images: np.ndarray) -> np.ndarray:
    """Per image ``(N, n, n, C)``: the largest relative residual of a band fitted as a scalar
    multiple of the last band (0 when all bands are multiples of each other)."""
    x = images.astype(np.float64).reshape(images.shape[0], -1, images.shape[-1])
    ref = x[..., -1]
    out = np.zeros(x.shape[0])
    for c in range(x.shape[-1] - 1):
        a = (x[..., c] * ref).sum(axis=1) / (ref * ref).sum(axis=1)
        res = np.linalg.norm(x[..., c] - a[:, None] * ref, axis=1) / np.linalg.norm(x[..., c],
                                                                                   axis=1)
        out = np.maximum(out, res)
    return out


def test_real_deep_field_sources_take_shape_and_colour_from_their_stamps():
    from lensfind.sim.sources import hdf_band
    cfg = SimConfig(size=48, supersampling=2, bands=ALIKE).replace(**SOURCES_ONLY)
    sersic = simulate(cfg, seed=4, n_lenses=4, n_nonlenses=0)
    assert np.all(_scalar_misfit(sersic.images) < 1e-4)   # one shape, scaled per band
    real = simulate(cfg.replace(source={"kind": "real"}), seed=4, n_lenses=4, n_nonlenses=0)
    assert np.all(_scalar_misfit(real.images) > 0.02)     # each band lenses its own stamp
    # the same systems: geometry and reference-band magnitudes are the single band's
    for name in ("theta_e", "source_x", "source_mag", "source_r_sersic"):
        assert np.array_equal(real.params[name], sersic.params[name])
    # each recorded colour is one deep-field galaxy's (hdf_band), in g and r at once
    p = real.params
    offsets = {band: hdf_band(band, "source")[1] for band in "gri"}
    for i in range(4):
        got = {band: p[f"source_mag_{band}"][i] - p["source_mag"][i] for band in "gri"}
        match = np.ones(offsets["g"].size, bool)
        for band in "gri":
            match &= np.abs(offsets[band] - got[band]) < 1e-4
        assert match.any(), i
    # the images carry those colours, up to the bands' different magnifications
    counts = real.images.sum(axis=(1, 2), dtype=np.float64)
    measured = -2.5 * np.log10(counts[:, 0] / counts[:, 2])
    np.testing.assert_allclose(measured, p["source_mag_g"] - p["source_mag_i"], atol=0.2)


def test_real_deep_field_colours_are_deterministic_and_leave_other_sets_alone():
    cfg = SMALL.replace(source={"kind": "mixed", "real_fraction": 0.5})
    b = simulate(cfg, seed=8)
    assert b.params["source_real"].any() and not np.all(b.params["source_real"][b.labels == 1])
    merged = SimBatch.concatenate(list(simulate_chunks(cfg, seed=8, chunk_size=5)))
    assert merged.images.tobytes() == b.images.tobytes()
    assert simulate(cfg, seed=8).images.tobytes() == b.images.tobytes()
    # Sersic sources keep the prior's colours
    sersic = simulate(cfg.replace(source={"kind": "sersic"}), seed=8)
    real = b.params["source_real"] == 1
    lens = b.labels == 1
    prior = np.flatnonzero(lens & ~real)
    assert prior.size and np.array_equal(
        b.params["source_mag_g"][prior] - b.params["source_mag"][prior],
        sersic.params["source_mag_g"][prior] - sersic.params["source_mag"][prior])


def test_real_deep_field_neighbours_take_their_own_colours_too():
    neighbours_only = {"lens_galaxy": 0.0, "neighbour": 1.0, "star": 0.0, "ring": 0.0,
                       "spiral": 0.0, "real_hst": 0.0}
    cfg = SimConfig(size=48, supersampling=2, bands=ALIKE).replace(**SOURCES_ONLY,
                                                                  negatives=neighbours_only)
    sersic = simulate(cfg, seed=2, n_lenses=0, n_nonlenses=4)
    real = simulate(cfg.replace(source={"kind": "real"}), seed=2, n_lenses=0, n_nonlenses=4)
    assert np.all(_scalar_misfit(sersic.images) < 1e-4)
    assert np.all(_scalar_misfit(real.images) > 0.02)
