"""Dark-matter substructure: profiles against lenstronomy, the [simulation.substructure] table,
the classes in simulated sets, and one lens rendered per class."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.config import experiment_from_dict, load_experiment
from lensfind.sim import cosmology, func
from lensfind.sim.config import SUBSTRUCTURE_CLASSES, SimConfig, SubstructurePriors
from lensfind.sim.params import PARAMS, SUBSTRUCTURE_PARAMS, describe
from lensfind.sim.simulate import (
    BLOCK,
    SimBatch,
    simulate,
    simulate_chunks,
    substructure_variants,
)
from lensfind.validation import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SIZE, PIX = 64, 0.05
CLASSES = ("no_sub", "cdm", "axion")
SMALL = SimConfig(size=40, pixel_scale=0.08, supersampling=2, n_lenses=12, n_nonlenses=6)
QUIET = {"noise": {"enabled": False}, "field_galaxies": 0.0,
         "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0}}


def grid64():
    x, y = func.grid(SIZE, PIX, 1)                     # float32, as the simulator
    xx, yy = (a[0].astype(np.float64).ravel() for a in np.broadcast_arrays(x, y))
    return x, y, xx, yy


# ------------------------------------------------------------------------------- profiles

def test_point_masses_match_lenstronomy_point_mass():
    pytest.importorskip("lenstronomy")
    from lenstronomy.LensModel.lens_model import LensModel
    rng = np.random.default_rng(0)
    b, k = 4, 5
    theta = rng.uniform(0.02, 0.3, (b, k))
    cx, cy = rng.uniform(-1.2, 1.2, (2, b, k))
    theta[1, 3:] = 0.0                                 # padding: fewer masses in image 1
    x, y, xx, yy = grid64()
    ax, ay = func.point_masses_deflection(x, y, theta, cx, cy)
    assert ax.shape == (b, SIZE, SIZE) and ax.dtype == np.float32
    for i in range(b):
        used = theta[i] > 0
        model = LensModel(["POINT_MASS"] * int(used.sum()))
        kwargs = [{"theta_E": t, "center_x": u, "center_y": v}
                  for t, u, v in zip(theta[i][used], cx[i][used], cy[i][used])]
        rx, ry = (a.reshape(SIZE, SIZE) for a in model.alpha(xx, yy, kwargs))
        assert np.max(np.hypot(ax[i] - rx, ay[i] - ry) / np.hypot(rx, ry)) < 1e-4
    # zero Einstein radii add exactly nothing; no columns at all is zero deflection
    zx, zy = func.point_masses_deflection(x, y, np.zeros((2, 3)), cx[:2, :3], cy[:2, :3])
    assert not zx.any() and not zy.any()
    ex, _ = func.point_masses_deflection(x, y, np.zeros((2, 0)), np.zeros((2, 0)),
                                         np.zeros((2, 0)))
    assert ex.shape == (2, SIZE, SIZE) and not ex.any()


def dense_line(theta_e, length, angle, cx, cy, xx, yy, n=20000):
    """A line mass as ``n`` lenstronomy POINT_MASS profiles (midpoints of ``n`` equal parts)."""
    from lenstronomy.LensModel.Profiles.point_mass import PointMass
    t = ((np.arange(n) + 0.5) / n - 0.5) * length
    px, py = cx + t * np.cos(angle), cy + t * np.sin(angle)
    rx, ry = np.zeros_like(xx), np.zeros_like(yy)
    for k in range(0, n, 2000):   # PointMass broadcasts: (points, 1) centres x (1, pixels)
        gx, gy = PointMass().derivatives(xx[None], yy[None], theta_E=theta_e / np.sqrt(n),
                                         center_x=px[k:k + 2000, None],
                                         center_y=py[k:k + 2000, None])
        rx += gx.sum(axis=0)
        ry += gy.sum(axis=0)
    return rx, ry


def test_line_mass_matches_dense_sum_of_lenstronomy_point_masses():
    pytest.importorskip("lenstronomy")
    lines = [(0.3, 1.3, 0.7, 0.2, -0.1), (0.15, 0.4, 2.5, -0.6, 0.8), (0.25, 2.5, 0.0, 0.0, 1.0)]
    theta, length, angle, cx, cy = (np.array(v) for v in zip(*lines))
    x, y, xx, yy = grid64()
    ax, ay = func.line_mass_deflection(x, y, theta, length, angle, cx, cy)
    for i in range(len(lines)):
        rx, ry = dense_line(theta[i], length[i], angle[i], cx[i], cy[i], xx, yy)
        # the dense sum is a good integral only a few point spacings off the segment
        u = (xx - cx[i]) * np.cos(angle[i]) + (yy - cy[i]) * np.sin(angle[i])
        v = -(xx - cx[i]) * np.sin(angle[i]) + (yy - cy[i]) * np.cos(angle[i])
        dist = np.where(np.abs(u) <= length[i] / 2, np.abs(v),
                        np.hypot(np.abs(u) - length[i] / 2, v))
        ok = dist > 0.01
        assert ok.mean() > 0.95
        err = np.hypot(ax[i].ravel() - rx, ay[i].ravel() - ry) / np.hypot(rx, ry)
        assert np.max(err[ok]) < 1e-4
    # the tear: across the middle of a segment the deflection jumps by 2 pi theta_E^2 / L
    above_below = np.array([[[1e-4, -1e-4]]], np.float32)
    _, jy = func.line_mass_deflection(np.zeros((1, 1, 2), np.float32), above_below,
                                      [0.3], [1.0], [0.0], [0.0], [0.0])
    assert jy[0, 0, 0] - jy[0, 0, 1] == pytest.approx(2 * np.pi * 0.3 ** 2, rel=1e-3)
    # short segments are point masses; zero mass adds exactly nothing
    px, py = func.point_mass_deflection(x, y, [0.2], [0.3], [-0.4])
    sx, sy = func.line_mass_deflection(x, y, [0.2], [1e-3], [1.0], [0.3], [-0.4])
    far = np.hypot(x - 0.3, y + 0.4) > 0.1
    assert np.allclose(sx[0][far[0]], px[0][far[0]], rtol=1e-4)
    assert np.allclose(sy[0][far[0]], py[0][far[0]], rtol=1e-4, atol=1e-7)
    # a pixel exactly on an end point or on a point mass: finite (the true value diverges)
    ex, ey = func.line_mass_deflection(x, y, [0.2], [1.0], [0.0], [0.525], [0.025])
    px, py = func.point_mass_deflection(x, y, [0.2], [0.025], [0.025])
    assert all(np.all(np.isfinite(a)) for a in (ex, ey, px, py))
    zx, zy = func.line_masses_deflection(x, y, np.zeros((1, 2)), np.ones((1, 2)),
                                         np.zeros((1, 2)), np.zeros((1, 2)), np.zeros((1, 2)))
    assert not zx.any() and not zy.any()


def test_ray_shooting_with_substructure_matches_lenstronomy():
    pytest.importorskip("lenstronomy")
    from lenstronomy.LensModel.lens_model import LensModel
    lens = {"theta_e": np.array([1.1]), "e1": np.array([0.1]), "e2": np.array([-0.05]),
            "center_x": np.array([0.05]), "center_y": np.array([-0.02]),
            "g1": np.array([0.03]), "g2": np.array([0.01])}
    sub = {"point_theta_e": np.array([[0.1, 0.05]]), "point_x": np.array([[0.9, -0.3]]),
           "point_y": np.array([[0.4, -1.0]]), "line_theta_e": np.array([[0.2]]),
           "line_length": np.array([[1.0]]), "line_angle": np.array([[0.4]]),
           "line_x": np.array([[-0.8]]), "line_y": np.array([[0.6]])}
    x, y, xx, yy = grid64()
    bx, by = func.ray_shoot(x, y, lens)
    func.subtract_substructure(x, y, sub, bx, by)
    n = 20000
    kwargs = [{"theta_E": 1.1, "e1": 0.1, "e2": -0.05, "center_x": 0.05, "center_y": -0.02},
              {"gamma1": 0.03, "gamma2": 0.01, "ra_0": 0.05, "dec_0": -0.02},
              {"theta_E": 0.1, "center_x": 0.9, "center_y": 0.4},
              {"theta_E": 0.05, "center_x": -0.3, "center_y": -1.0}]
    rbx, rby = LensModel(["SIE", "SHEAR", "POINT_MASS", "POINT_MASS"]).ray_shooting(xx, yy,
                                                                                    kwargs)
    lx, ly = dense_line(0.2, 1.0, 0.4, -0.8, 0.6, xx, yy, n)
    rbx, rby = rbx - lx, rby - ly
    u = (xx + 0.8) * np.cos(0.4) + (yy - 0.6) * np.sin(0.4)
    v = -(xx + 0.8) * np.sin(0.4) + (yy - 0.6) * np.cos(0.4)
    ok = np.where(np.abs(u) <= 0.5, np.abs(v), np.hypot(np.abs(u) - 0.5, v)) > 0.01
    err = np.hypot(bx[0].ravel() - rbx, by[0].ravel() - rby)
    assert np.max(err[ok]) < 1e-4 * 1.1


def test_masses_to_einstein_radii_match_astropy():
    from astropy import units
    from astropy.constants import G, M_sun, c
    from astropy.cosmology import FlatLambdaCDM
    cosmo = FlatLambdaCDM(H0=cosmology.H0, Om0=cosmology.OMEGA_M)
    for z_l, z_s in ((0.5, 1.0), (0.2, 2.5), (1.0, 4.0)):
        d_ls = (cosmo.comoving_distance(z_s) - cosmo.comoving_distance(z_l)) / (1 + z_s)  # flat
        d = d_ls / (cosmo.angular_diameter_distance(z_l) * cosmo.angular_diameter_distance(z_s))
        mass = np.array([1e6, 1e9, 3e10, 1e12])
        ref = np.sqrt(4 * G * mass * M_sun / c ** 2 * d).to(units.dimensionless_unscaled).value
        ours = cosmology.point_mass_einstein_radius(mass, z_l, z_s)
        assert np.allclose(ours, ref * 206264.80624709636, rtol=1e-5)
        assert cosmology.comoving_distance(z_s) == pytest.approx(
            cosmo.comoving_distance(z_s).to(units.Mpc).value, rel=1e-10)
    with pytest.raises(ValueError, match="z_lens"):
        cosmology.point_mass_einstein_radius(1e10, 1.0, 0.5)


# ------------------------------------------------------------------------------- config

def test_defaults_are_off_and_valid():
    sub = SimConfig().substructure
    assert sub == SubstructurePriors() and sub.classes == () and not sub.enabled
    on = SubstructurePriors(classes=CLASSES)
    assert on.enabled and on.probabilities() == pytest.approx((1 / 3,) * 3)
    assert set(SUBSTRUCTURE_CLASSES) == set(CLASSES)


def test_substructure_table_from_toml(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text('[simulation]\n[simulation.substructure]\nclasses = ["no_sub", "cdm"]\n'
                    'fractions = [0.25, 0.75]\nsubhalo_mass = [1e8, 1e10]\n')
    sub = load_experiment(path).simulation.substructure
    assert sub.classes == ("no_sub", "cdm") and sub.fractions == (0.25, 0.75)
    assert sub.subhalo_mass == (1e8, 1e10)
    assert sub.vortex_length == SubstructurePriors().vortex_length


@pytest.mark.parametrize("table, pattern", [
    ({"classes": ["no_sub", "wdm"]},
     (r"simulation\.substructure\.classes = \('no_sub', 'wdm'\) is invalid: expected class names "
      r"from 'no_sub', 'cdm', 'axion' \('wdm' is unknown\)")),
    ({"classes": "cdm"}, r"simulation\.substructure\.classes = 'cdm' .*a list of class names"),
    ({"classes": ["cdm", "axion", "cdm"]},
     (r"simulation\.substructure\.classes = \('cdm', 'axion', 'cdm'\) .*each class once "
      r"\('cdm' repeated\)")),
    ({"subhalo_mass": [1e10, 1e9]},
     r"simulation\.substructure\.subhalo_mass = \(10000000000\.0, 1000000000\.0\) .*low <= high"),
    ({"vortex_length": [2.0, 0.5]}, r"simulation\.substructure\.vortex_length .*low <= high"),
    ({"vortex_mass": [3e10, 1e10]}, r"simulation\.substructure\.vortex_mass .*low <= high"),
    ({"subhalo_radius": [1.4, 0.6]}, r"simulation\.substructure\.subhalo_radius .*low <= high"),
    ({"vortex_radius": [1.2, 0.8]}, r"simulation\.substructure\.vortex_radius .*low <= high"),
    ({"vortices": [2, 1]}, r"simulation\.substructure\.vortices = \(2, 1\) .*low <= high"),
    ({"vortex_length": [0.0, 1.0]}, r"simulation\.substructure\.vortex_length = 0\.0 .*\(0\.0"),
    ({"classes": CLASSES, "fractions": [0.5, 0.3, 0.3]},
     (r"simulation\.substructure\.fractions = \(0\.5, 0\.3, 0\.3\) is invalid: expected numbers "
      r"summing to 1 \(they sum to 1\.1\)")),
    ({"classes": CLASSES, "fractions": [0.5, 0.5]},
     (r"simulation\.substructure\.fractions = \(0\.5, 0\.5\) is invalid: expected one number per "
      r"class \(3 for classes")),
    ({"fractions": [1.0]},
     r"simulation\.substructure\.fractions = \(1\.0,\) .*one number per class \(0 for classes"),
    ({"classes": CLASSES, "fractions": [1.2, -0.1, -0.1]},
     r"simulation\.substructure\.fractions = 1\.2 .*\[0\.0, 1\.0\]"),
    ({"z_lens": 1.0, "z_source": 0.5}, r"simulation\.substructure\.z_source = 0\.5 .*> z_lens"),
    ({"subhalos": -1}, r"simulation\.substructure\.subhalos = -1"),
    ({"cdm": 1}, r"simulation\.substructure: unknown setting\(s\) cdm"),
])
def test_bad_substructure_settings_are_refused(table, pattern):
    with pytest.raises(ConfigError, match=pattern):
        experiment_from_dict({"simulation": {"substructure": table}}, source="exp.toml")


def test_fractions_summing_to_one_within_1e6_are_accepted():
    sub = SubstructurePriors(classes=CLASSES, fractions=(0.2, 0.3, 0.5 + 5e-7))
    assert sub.probabilities()[2] == pytest.approx(0.5)
    assert sum(sub.probabilities()) == pytest.approx(1.0, abs=1e-12)
    b = simulate(SMALL.replace(substructure=sub), seed=1, n_lenses=3, n_nonlenses=0)
    assert np.all(np.isfinite(b.params["substructure"]))


# ------------------------------------------------------------------------------- simulator

def test_off_is_the_default_and_records_no_substructure_params():
    base = simulate(SMALL, seed=3)
    explicit = simulate(SMALL.replace(substructure=SubstructurePriors(classes=(), fractions=())),
                        seed=3)
    assert explicit.images.tobytes() == base.images.tobytes()
    assert set(base.params) == set(PARAMS) - set(SUBSTRUCTURE_PARAMS)
    for name in base.params:
        assert explicit.params[name].tobytes() == base.params[name].tobytes(), name


def test_classes_fractions_and_params():
    cfg = SimConfig(size=24, pixel_scale=0.12, supersampling=1).replace(
        substructure={"classes": CLASSES, "fractions": (0.5, 0.3, 0.2)})
    b = simulate(cfg, seed=5, n_lenses=400, n_nonlenses=40)
    assert set(b.params) == set(PARAMS)
    lens = b.labels == 1
    for name in SUBSTRUCTURE_PARAMS:
        assert np.all(np.isnan(b.params[name][~lens])), name
        assert np.all(np.isfinite(b.params[name][lens])), name
    klass = b.params["substructure"][lens].astype(int)
    share = np.bincount(klass, minlength=3) / lens.sum()
    assert np.allclose(share, (0.5, 0.3, 0.2), atol=0.07)     # ~3 sigma for 400 draws
    n_sub, n_vort = b.params["n_subhalos"][lens], b.params["n_vortices"][lens]
    assert np.all(n_sub[klass != 1] == 0) and np.all(n_vort[klass != 2] == 0)
    assert n_sub[klass == 1].mean() == pytest.approx(cfg.substructure.subhalos, rel=0.2)
    assert np.all(n_vort[klass == 2] == 1)
    length = b.params["vortex_length"][lens]
    assert np.all((length[klass == 2] >= 0.6) & (length[klass == 2] <= 2.0))
    mass, frac = b.params["substructure_mass"][lens], b.params["substructure_mass_fraction"][lens]
    assert np.all(mass[klass == 0] == 0) and np.all(frac[klass == 0] == 0)
    assert np.all((mass[klass == 2] >= 1e10) & (mass[klass == 2] <= 3e10))
    # the fraction is the mass over the host's mass inside its Einstein radius
    host = (b.params["theta_e"][lens] / cosmology.point_mass_einstein_radius(1e12, 0.5, 1.0)) ** 2
    assert np.allclose(frac[klass > 0], mass[klass > 0] / (1e12 * host[klass > 0]), rtol=1e-4)
    assert describe("substructure_mass").startswith("substructure_mass [M_sun]")


def test_substructure_changes_only_the_lensed_sources():
    quiet = SMALL.replace(**QUIET)
    off = simulate(quiet, seed=2)
    on = simulate(quiet.replace(substructure={"classes": CLASSES}), seed=2)
    lens = off.labels == 1
    assert np.array_equal(on.kinds, off.kinds)
    assert on.images[~lens].tobytes() == off.images[~lens].tobytes()
    for name in off.params:
        if name not in ("magnification", "lensed_source_mag", "arc_outside_fraction",
                        "arc_coverage", "arc_segments"):
            assert np.array_equal(on.params[name], off.params[name], equal_nan=True), name
    klass = on.params["substructure"]
    plain = lens & (klass == 0)
    assert plain.any() and (lens & (klass > 0)).any()
    # no_sub lenses: the same image (another ray-shooting path: float32 rounding only)
    assert np.allclose(on.images[plain], off.images[plain], rtol=1e-4,
                       atol=1e-4 * off.images[plain].max())
    for row in np.flatnonzero(lens & (klass > 0)):
        assert np.abs(on.images[row] - off.images[row]).max() > 1e-3 * off.images[row].max()


def test_chunks_with_substructure_are_bit_identical():
    cfg = SimConfig(size=16, supersampling=1, n_lenses=BLOCK, n_nonlenses=BLOCK // 2 + 3).replace(
        substructure={"classes": CLASSES})
    whole = simulate(cfg, seed=3)
    parts = SimBatch.concatenate(list(simulate_chunks(cfg, seed=3, chunk_size=37)))
    assert parts.images.tobytes() == whole.images.tobytes()
    for name in whole.params:
        assert parts.params[name].tobytes() == whole.params[name].tobytes(), name


def test_variants_render_one_lens_per_class():
    # compact sources (up to 0.3"), where substructure shows at this seed
    plain = SimConfig(size=SIZE, pixel_scale=PIX, supersampling=2).replace(
        source={"r_sersic": (0.05, 0.3)})
    cfg = plain.replace(substructure={"classes": CLASSES})
    clean = substructure_variants(cfg, 4, noise=False)
    assert list(clean) == list(CLASSES)
    for image in clean.values():
        assert image.shape == (SIZE, SIZE) and image.dtype == np.float32
    peak = clean["no_sub"].max()
    for name in ("cdm", "axion"):
        assert np.abs(clean[name] - clean["no_sub"]).max() > 0.02 * peak, name
    # with noise: exactly what simulate gives that lens for the class it draws
    noisy = substructure_variants(cfg, 4)
    one = simulate(cfg, seed=4, n_lenses=1, n_nonlenses=0)
    drawn = CLASSES[int(one.params["substructure"][0])]
    assert noisy[drawn].tobytes() == one.images[0].tobytes()
    # without classes in the config: every registry class, same lens as with them
    every = substructure_variants(plain, 4, noise=False)
    assert list(every) == list(SUBSTRUCTURE_CLASSES)
    assert every["axion"].tobytes() == clean["axion"].tobytes()
    only = substructure_variants(cfg.replace(substructure={"classes": ("axion", "no_sub")}), 4,
                                 noise=False)
    assert list(only) == ["axion", "no_sub"]
    assert only["axion"].tobytes() == clean["axion"].tobytes()
    with pytest.raises(ValueError, match="seed"):
        substructure_variants(cfg, -1)
