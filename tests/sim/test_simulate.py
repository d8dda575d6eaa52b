"""simulate / simulate_chunks: the data contract, determinism, every kind and option."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim import func
from lensfind.sim.config import NEGATIVE_KINDS, SimConfig
from lensfind.sim.params import LENS_PARAMS, PARAMS, SUBSTRUCTURE_PARAMS, describe, outside_note
from lensfind.sim.simulate import BLOCK, KINDS, SimBatch, _draw_ring, simulate, simulate_chunks

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SMALL = SimConfig(size=48, supersampling=2, n_lenses=12, n_nonlenses=12)


@pytest.fixture(scope="module")
def batch() -> SimBatch:
    return simulate(SMALL, seed=11)


def test_contract(batch):
    n = 24
    assert batch.images.shape == (n, 48, 48) and batch.images.dtype == np.float32
    assert batch.labels.dtype == np.int8 and batch.labels.sum() == 12
    assert batch.system_id.dtype == np.int64 and np.array_equal(batch.system_id, np.arange(n))
    assert set(batch.kinds) <= set(KINDS)
    assert np.all((batch.kinds == "lens") == (batch.labels == 1))
    # substructure params only with substructure classes (tests/sim/test_substructure.py)
    assert set(batch.params) == set(PARAMS) - set(SUBSTRUCTURE_PARAMS)
    for name, values in batch.params.items():
        assert values.dtype == np.float32 and values.shape == (n,), name
    lens = batch.labels == 1
    for name in LENS_PARAMS:
        assert np.all(np.isfinite(batch.params[name][lens])), name
        assert np.all(np.isnan(batch.params[name][~lens])), name
    assert np.all(np.isfinite(batch.images))
    p = batch.params
    assert np.all((p["theta_e"][lens] >= 0.5) & (p["theta_e"][lens] <= 1.5))
    # a 2.4" cutout may miss part of the images: the in-cutout magnification can be < 1
    assert np.all(p["magnification"][lens] > 0) and np.all(p["snr"][lens] > 0)
    q = (1 - np.hypot(p["e1"], p["e2"])) / (1 + np.hypot(p["e1"], p["e2"]))
    assert np.all((q[lens] >= 0.5 - 1e-6) & (q[lens] <= 1.0))
    assert describe("theta_e").startswith("theta_e [arcsec]")


def test_same_seed_same_bits_and_chunks_concatenate(batch):
    again = simulate(SMALL, seed=11)
    assert again.images.tobytes() == batch.images.tobytes()
    for name in batch.params:
        assert np.array_equal(again.params[name], batch.params[name], equal_nan=True)
    other = simulate(SMALL, seed=12)
    assert not np.array_equal(other.images, batch.images)
    for chunk_size in (5, 24, 100):
        chunks = list(simulate_chunks(SMALL, seed=11, chunk_size=chunk_size))
        assert [len(c) for c in chunks[:-1]] == [chunk_size] * (len(chunks) - 1)
        merged = SimBatch.concatenate(chunks)
        assert merged.images.tobytes() == batch.images.tobytes()
        assert np.array_equal(merged.kinds, batch.kinds)
        assert np.array_equal(merged.system_id, batch.system_id)


def test_chunks_across_blocks_are_bit_identical():
    cfg = SimConfig(size=16, supersampling=1, n_lenses=BLOCK, n_nonlenses=BLOCK // 2 + 3)
    whole = simulate(cfg, seed=3)
    parts = SimBatch.concatenate(list(simulate_chunks(cfg, seed=3, chunk_size=37)))
    assert parts.images.tobytes() == whole.images.tobytes()
    assert len(whole) == BLOCK + BLOCK // 2 + 3 and whole.labels.sum() == BLOCK


def test_counts_override_and_bad_arguments():
    b = simulate(SMALL, seed=1, n_lenses=2, n_nonlenses=0)
    assert len(b) == 2 and b.labels.sum() == 2
    with pytest.raises(ValueError, match="chunk_size"):
        next(simulate_chunks(SMALL, seed=1, chunk_size=0))
    with pytest.raises(ValueError, match="seed"):
        simulate(SMALL, seed=-1)
    with pytest.raises(ValueError, match="at least one image"):
        simulate(SMALL, seed=1, n_lenses=0, n_nonlenses=0)


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_each_negative_kind(kind):
    weights = {k: float(k == kind) for k in NEGATIVE_KINDS}
    cfg = SMALL.replace(negatives=weights)
    b = simulate(cfg, seed=5, n_lenses=0, n_nonlenses=3)
    assert set(b.kinds) == {kind} and np.all(b.labels == 0)
    assert np.all(np.isfinite(b.images))
    # something was drawn above the noise
    bright = b.images.max(axis=(1, 2)) > 5 * b.params["background_rms"]
    assert bright.all()


def test_non_lens_priors_reach_their_kind_only():
    rings_only = {k: float(k == "ring") for k in NEGATIVE_KINDS}
    # noiseless: the number of Poisson draws depends on the pixel values
    cfg = SMALL.replace(negatives=rings_only, noise={"enabled": False})
    base = simulate(cfg, seed=4, n_lenses=2, n_nonlenses=3)
    fainter = simulate(cfg.replace(ring={"magnitude": (25.0, 25.0)}), seed=4, n_lenses=2,
                       n_nonlenses=3)
    other = simulate(cfg.replace(spiral={"disc_magnitude": (25.0, 25.0)}), seed=4, n_lenses=2,
                     n_nonlenses=3)
    ring = base.kinds == "ring"
    assert ring.any() and not np.array_equal(fainter.images[ring], base.images[ring])
    assert np.array_equal(fainter.images[~ring], base.images[~ring])
    assert other.images.tobytes() == base.images.tobytes()


def test_noiseless_images_are_the_convolved_model():
    cfg = SMALL.replace(noise={"enabled": False}, field_galaxies=0.0,
                        artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0,
                                   "mask_probability": 0.0})
    b = simulate(cfg, seed=2, n_lenses=4, n_nonlenses=0)
    assert np.all(b.images > -1e-3 * b.images.max())
    assert np.all(np.isinf(b.params["snr"]))
    assert np.all(b.params["sky"] == 0)


def test_magnification_and_image_agree_with_lenstronomy():
    pytest.importorskip("lenstronomy")
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    from lensfind.sim import observe
    from lensfind.sim.profiles import sersic_amp
    cfg = SimConfig(size=64, supersampling=3).replace(
        noise={"enabled": False}, field_galaxies=0.0, psf={"fwhm": (0.1, 0.1)},
        artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0})
    b = simulate(cfg, seed=9, n_lenses=3, n_nonlenses=0)
    n, pix = cfg.size, cfg.pixel_scale
    kernel = observe.gaussian_kernels(np.array([0.1]), cfg.psf.kernel_size, pix)[0]
    data = ImageData(image_data=np.zeros((n, n)), transform_pix2angle=np.diag([pix, pix]),
                     ra_at_xy_0=-(n - 1) / 2 * pix, dec_at_xy_0=-(n - 1) / 2 * pix)
    imsim = ImageModel(data, PSF(psf_type="PIXEL", kernel_point_source=kernel.astype(float)),
                       lens_model_class=LensModel(["SIE", "SHEAR"]),
                       source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                       lens_light_model_class=LightModel(["SERSIC_ELLIPSE"]),
                       kwargs_numerics={"supersampling_factor": 3})
    p = {k: v.astype(np.float64) for k, v in b.params.items()}
    zp = cfg.noise.zero_point
    for i in range(3):
        t = p["exposure_time"][i]
        kl = [{"theta_E": p["theta_e"][i], "e1": p["e1"][i], "e2": p["e2"][i],
               "center_x": p["center_x"][i], "center_y": p["center_y"][i]},
              {"gamma1": p["g1"][i], "gamma2": p["g2"][i], "ra_0": p["center_x"][i],
               "dec_0": p["center_y"][i]}]
        ks = [{"amp": sersic_amp(t * 10 ** (-0.4 * (p["source_mag"][i] - zp)),
                                 p["source_r_sersic"][i], p["source_n_sersic"][i]),
               "R_sersic": p["source_r_sersic"][i], "n_sersic": p["source_n_sersic"][i],
               "e1": p["source_e1"][i], "e2": p["source_e2"][i],
               "center_x": p["source_x"][i], "center_y": p["source_y"][i]}]
        kll = [{"amp": sersic_amp(t * 10 ** (-0.4 * (p["light_mag"][i] - zp)),
                                  p["light_r_sersic"][i], p["light_n_sersic"][i]),
                "R_sersic": p["light_r_sersic"][i], "n_sersic": p["light_n_sersic"][i],
                "e1": p["light_e1"][i], "e2": p["light_e2"][i],
                "center_x": p["light_x"][i], "center_y": p["light_y"][i]}]
        lensed = imsim.image(kl, ks, kll, lens_light_add=False, unconvolved=True)
        total = LightModel(["SERSIC_ELLIPSE"]).total_flux(ks)[0]
        assert p["magnification"][i] == pytest.approx(lensed.sum() / total, rel=2e-3)
        ref = imsim.image(kl, ks, kll)
        # float32 parameters + a PSF cut at the edges: 1e-3 of the peak
        assert np.max(np.abs(b.images[i] - ref)) < 2e-3 * ref.max()


@pytest.mark.parametrize("changes", [
    {"source": {"kind": "real"}},
    {"lens_light": {"kind": "real"}},
    {"source": {"kind": "mixed", "real_fraction": 0.5},
     "lens_light": {"kind": "mixed", "real_fraction": 0.5}},
    {"psf": {"kind": "moffat", "moffat_beta": 2.5}},
])
def test_options_run(changes):
    cfg = SMALL.replace(**changes)
    b = simulate(cfg, seed=4, n_lenses=4, n_nonlenses=2)
    assert np.all(np.isfinite(b.images))
    lens = b.labels == 1
    assert np.all(b.params["magnification"][lens] > 0)
    if changes.get("source", {}).get("kind") == "real":
        assert np.all(b.params["source_real"][lens] == 1)
        assert np.all(np.isnan(b.params["source_n_sersic"][lens]))


def test_psf_image_file(tmp_path):
    kernel = np.zeros((7, 7))
    kernel[3, 3] = 1.0
    path = tmp_path / "psf.npy"
    np.save(path, kernel)
    cfg = SMALL.replace(psf={"kind": "image", "image_path": str(path)},
                        noise={"enabled": False}, field_galaxies=0.0,
                        artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0,
                                   "mask_probability": 0.0})
    b = simulate(cfg, seed=1, n_lenses=2, n_nonlenses=0)
    assert np.all(np.isnan(b.params["psf_fwhm"]))
    missing = SMALL.replace(psf={"kind": "image", "image_path": str(tmp_path / "nope.fits")})
    with pytest.raises(FileNotFoundError, match="psf.image_path"):
        simulate(missing, seed=1, n_lenses=1, n_nonlenses=0)


def test_snr_grows_with_exposure_time():
    base = SMALL.replace(noise={"exposure_time": (1000.0, 1000.0)})
    long = SMALL.replace(noise={"exposure_time": (4000.0, 4000.0)})
    a = simulate(base, seed=8, n_lenses=6, n_nonlenses=0)
    b = simulate(long, seed=8, n_lenses=6, n_nonlenses=0)
    assert np.array_equal(a.params["theta_e"], b.params["theta_e"])  # same draws otherwise
    ratio = b.params["snr"] / a.params["snr"]
    # sqrt(4) = 2 if shot noise dominated; more where the fixed read noise matters
    assert np.all((ratio >= 2.0 - 1e-4) & (ratio < 2.5))


def test_arc_outside_fraction_measures_the_flux_a_small_cutout_loses():
    """On a 2.4" cutout large Einstein radii and offsets put images outside: the same lenses
    (same draws) on a 6" cutout give the flux the small one lost, which the flag predicts."""
    tight = SimConfig(size=48, supersampling=1, n_lenses=40, n_nonlenses=0).replace(
        lens={"theta_e": (1.2, 1.5), "center_max": 0.1},
        source={"offset": (0.4, 0.6), "r_sersic": (0.05, 0.3)})
    small = simulate(tight, seed=3).params
    wide = simulate(tight.replace(size=120), seed=3).params
    assert np.array_equal(small["theta_e"], wide["theta_e"])
    lost = 1 - small["magnification"] / wide["magnification"]
    assert np.all(wide["arc_outside_fraction"] < 0.05)
    assert np.allclose(small["arc_outside_fraction"], lost, atol=0.06)
    assert lost.min() > 0.3
    assert outside_note(small).startswith("40 of 40 lenses have more than 1% of their lensed")
    assert outside_note(wide, limit=0.05) is None


def _ring_draws(**ring):
    priors = SimConfig().replace(ring=ring).ring
    rng = np.random.default_rng(0)
    count = 200
    galaxy = {"cx": rng.uniform(-0.1, 0.1, count), "cy": rng.uniform(-0.1, 0.1, count),
              "phi": rng.uniform(0, np.pi, count), "r": np.full(count, np.nan)}
    return priors, galaxy, _draw_ring(rng, priors, galaxy, count)


def test_ring_galaxy_knots_lie_on_the_disc_ellipse_at_radii_set_by_the_galaxy():
    priors, galaxy, ring = _ring_draws(collisional_fraction=0.0)
    # resonance rings: centred on the nucleus, not lopsided
    np.testing.assert_array_equal(ring["cx"], galaxy["cx"])
    assert np.all(ring["lopsided"] == 0)
    # the host's half-light radius follows from the ring radius
    ratio = ring["radius"] / galaxy["r"]
    assert np.all((ratio >= priors.radius_over_r_e[0]) & (ratio <= priors.radius_over_r_e[1]))
    # every knot at elliptical radius ~ ring radius in the frame of the disc (q, galaxy PA)
    e1, e2 = func.phi_q_to_e(galaxy["phi"], ring["q"])
    np.testing.assert_allclose((e1, e2), (ring["e1"], ring["e2"]))
    phi = galaxy["phi"][:, None]
    dx, dy = ring["knot_x"] - ring["cx"][:, None], ring["knot_y"] - ring["cy"][:, None]
    xp = np.cos(phi) * dx + np.sin(phi) * dy
    yp = -np.sin(phi) * dx + np.cos(phi) * dy
    q = ring["q"][:, None]
    r = np.sqrt(q * xp ** 2 + yp ** 2 / q)
    used = np.arange(priors.knots[1]) < ring["n_knots"][:, None]
    off = np.abs(r - ring["radius"][:, None]) / ring["width"][:, None]
    assert np.all(off[used] < 5) and np.median(off[used]) < 1
    # knot fluxes: shares summing to 1 over the drawn knots, none on the others
    np.testing.assert_allclose(ring["knot_share"].sum(axis=1), 1.0)
    assert np.all(ring["knot_share"][~used] == 0)


def test_collisional_rings_have_an_offset_nucleus():
    priors, galaxy, ring = _ring_draws(collisional_fraction=1.0)
    offset = np.hypot(ring["cx"] - galaxy["cx"], ring["cy"] - galaxy["cy"]) / ring["radius"]
    lo, hi = priors.nucleus_offset
    assert np.all((offset >= lo - 1e-9) & (offset <= hi + 1e-9))
    assert np.all(ring["lopsided"] >= priors.lopsidedness[0])


def test_morphology_reads_rings_arcs_and_multiple_images_off_the_angular_coverage():
    from lensfind.sim.params import morphology
    cfg = SMALL.replace(size=64, noise={"enabled": False}, field_galaxies=0.0,
                        lens={"axis_ratio": (0.6, 0.6), "shear": (0.0, 0.0)},
                        source={"r_sersic": (0.03, 0.03)})
    centred = simulate(cfg.replace(source={"offset": (0.0, 0.0), "r_sersic": (0.2, 0.2)}),
                       seed=1, n_lenses=4, n_nonlenses=0)
    assert set(morphology(centred.params)) == {"ring"}
    assert np.all(centred.params["arc_coverage"] > 0.9)
    # a compact (0.03") source near the centre: four images; at half theta_E: two (or one arc)
    quads = simulate(cfg.replace(source={"offset": (0.05, 0.05)}), seed=2, n_lenses=4,
                     n_nonlenses=0)
    doubles = simulate(cfg.replace(source={"offset": (0.5, 0.5)}), seed=2, n_lenses=4,
                       n_nonlenses=0)
    assert set(morphology(quads.params)) == {"quad"}
    assert set(morphology(doubles.params)) <= {"double", "arc"}
    assert "double" in set(morphology(doubles.params))
    nonlens = simulate(cfg, seed=3, n_lenses=0, n_nonlenses=3)
    assert set(morphology(nonlens.params)) == {""}


def test_min_snr_redraws_faint_lenses_only_and_stays_deterministic():
    faint = SMALL.replace(source={"magnitude": (24.0, 26.5)})
    plain = simulate(faint, seed=9, n_lenses=40, n_nonlenses=20)
    floor = float(np.percentile(plain.params["snr"][plain.labels == 1], 50))
    floored = faint.replace(source={"magnitude": (24.0, 26.5), "min_snr": floor})
    a = simulate(floored, seed=9, n_lenses=40, n_nonlenses=20)
    assert np.all(a.params["snr"][a.labels == 1] >= floor)
    kept = (plain.labels == 0) | (plain.params["snr"] >= floor)
    assert np.array_equal(a.images[kept], plain.images[kept])       # only the faint redrawn
    assert not np.array_equal(a.images[~kept], plain.images[~kept])
    assert np.array_equal(a.labels, plain.labels) and np.array_equal(a.kinds, plain.kinds)
    chunks = list(simulate_chunks(floored, seed=9, chunk_size=7, n_lenses=40, n_nonlenses=20))
    assert np.array_equal(np.concatenate([c.images for c in chunks]), a.images)


def test_an_unreachable_min_snr_is_refused_naming_the_setting():
    config = SMALL.replace(source={"min_snr": 1e5})
    with pytest.raises(ValueError, match=r"simulation.source.min_snr = 100000.0 is invalid"):
        simulate(config, seed=1, n_lenses=2, n_nonlenses=0)


#: sha256 (first 16 hex digits) of the images and params of small sets, computed on main at
#: c2b06e7 (before real deep-field sources had colours) with these package versions; the sets
#: must stay byte-identical. Other versions (or another CPU's SIMD paths) may round differently:
#: then recompute them from a commit known to be unchanged.
PINNED_VERSIONS = {"numpy": "2.4.6", "scipy": "1.17.1", "skimage": "0.26.0"}
PINNED = {
    "default": ({}, "ef6c56f506ec4f28"),
    "single band, real sources": ({"size": 48, "supersampling": 2, "source": {"kind": "real"}},
                                  "574ac96603b6eee1"),
    "g, r, i, Sersic sources": ({"size": 48, "supersampling": 2, "bands": [
        {"name": "g", "zero_point": 28.5, "psf_fwhm": [0.12, 0.12]},
        {"name": "r", "zero_point": 28.4, "psf_fwhm": [0.1, 0.1], "exposure_time": [500, 500]},
        {"name": "i", "zero_point": 28.2, "psf_fwhm": [0.08, 0.08]}]}, "8769edc996c5c46f"),
}


@pytest.mark.parametrize("name", PINNED)
def test_sets_without_coloured_real_sources_are_byte_identical_to_before(name):
    import hashlib
    import importlib
    for package, version in PINNED_VERSIONS.items():
        if importlib.import_module(package).__version__ != version:
            pytest.skip(f"hashes pinned with {package} {version}")
    settings, expected = PINNED[name]
    b = simulate(SimConfig().replace(**settings), seed=7, n_lenses=4, n_nonlenses=4)
    digest = hashlib.sha256(b.images.tobytes())
    for key in sorted(b.params):
        digest.update(key.encode())
        digest.update(b.params[key].tobytes())
    assert digest.hexdigest()[:16] == expected
