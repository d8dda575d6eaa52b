"""Lens and light models against lenstronomy (the reference), finite differences and an SIS ring."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.sim import func, observe, profiles

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

lenstronomy = pytest.importorskip("lenstronomy")
from lenstronomy.Data.imaging_data import ImageData  # noqa: E402
from lenstronomy.Data.psf import PSF  # noqa: E402
from lenstronomy.ImSim.image_model import ImageModel  # noqa: E402
from lenstronomy.LensModel.lens_model import LensModel  # noqa: E402
from lenstronomy.LightModel.light_model import LightModel  # noqa: E402

SIZE, PIX = 64, 0.05


def random_lenses(rng, b):
    q = rng.uniform(0.3, 1.0, b)
    phi = rng.uniform(0, np.pi, b)
    e1, e2 = func.phi_q_to_e(phi, q)
    gamma, gphi = rng.uniform(0, 0.1, b), rng.uniform(0, np.pi, b)
    lens = dict(theta_e=rng.uniform(0.3, 2.0, b), e1=e1, e2=e2,
                center_x=rng.uniform(-0.2, 0.2, b), center_y=rng.uniform(-0.2, 0.2, b),
                g1=gamma * np.cos(2 * gphi), g2=gamma * np.sin(2 * gphi))
    lens["e1"][0] = lens["e2"][0] = 0.0  # include the SIS limit q = 1
    return lens


def kwargs_lens(lens, i):
    return [{"theta_E": lens["theta_e"][i], "e1": lens["e1"][i], "e2": lens["e2"][i],
             "center_x": lens["center_x"][i], "center_y": lens["center_y"][i]},
            {"gamma1": lens["g1"][i], "gamma2": lens["g2"][i], "ra_0": lens["center_x"][i],
             "dec_0": lens["center_y"][i]}]


def random_sersic(rng, b, r_range, n_range, center):
    q = rng.uniform(0.4, 1.0, b)
    e1, e2 = func.phi_q_to_e(rng.uniform(0, np.pi, b), q)
    return dict(amp=rng.uniform(1, 10, b), R_sersic=rng.uniform(*r_range, b),
                n_sersic=rng.uniform(*n_range, b), e1=e1, e2=e2,
                center_x=center[0] + rng.uniform(-0.3, 0.3, b),
                center_y=center[1] + rng.uniform(-0.3, 0.3, b))


def kwargs_light(light, i):
    return [{k: float(v[i]) for k, v in light.items()}]


def grid64(ss=1):
    x, y = func.grid(SIZE, PIX, ss, dtype=np.float64)
    xx, yy = np.broadcast_arrays(x, y)
    return x, y, xx[0].ravel(), yy[0].ravel()


def test_deflection_matches_lenstronomy():
    rng = np.random.default_rng(0)
    lens = random_lenses(rng, 8)
    x, y, xr, yr = grid64()
    x32, y32 = func.grid(SIZE, PIX, 1)
    ax, ay = func.deflection(x32, y32, lens)            # float32, as the simulator
    bx, by = func.ray_shoot(x32, y32, lens)             # the fused hot path
    model = LensModel(["SIE", "SHEAR"])
    for i in range(8):
        rax, ray = (a.reshape(SIZE, SIZE) for a in model.alpha(xr, yr, kwargs_lens(lens, i)))
        norm = np.hypot(rax, ray)
        assert np.max(np.hypot(ax[i] - rax, ay[i] - ray) / norm) < 1e-4
        rbx, rby = (a.reshape(SIZE, SIZE) for a in model.ray_shooting(xr, yr, kwargs_lens(lens, i)))
        assert np.max(np.hypot(bx[i] - rbx, by[i] - rby)) < 1e-4 * lens["theta_e"][i]
        pot = model.potential(xr, yr, kwargs_lens(lens, i)).reshape(SIZE, SIZE)
        ours = func.potential(x, y, {k: v[i:i + 1] for k, v in lens.items()})[0]
        assert np.allclose(ours, pot, rtol=1e-6, atol=1e-9)


def test_deflection_is_gradient_of_potential_and_convergence_is_half_divergence():
    rng = np.random.default_rng(1)
    lens = random_lenses(rng, 4)
    x, y = func.grid(40, 0.05, 1, dtype=np.float64)
    x, y = np.broadcast_arrays(x + 0.0123, y - 0.0071)  # keep clear of the singular centre
    h = 1e-5
    ax, ay = func.deflection(x, y, lens)
    gx = (func.potential(x + h, y, lens) - func.potential(x - h, y, lens)) / (2 * h)
    gy = (func.potential(x, y + h, lens) - func.potential(x, y - h, lens)) / (2 * h)
    assert np.allclose(gx, ax, rtol=1e-5, atol=1e-7)
    assert np.allclose(gy, ay, rtol=1e-5, atol=1e-7)
    sie = {k: lens[k] for k in ("theta_e", "e1", "e2", "center_x", "center_y")}
    ax1, _ = func.sie_deflection(x + h, y, **sie)
    ax0, _ = func.sie_deflection(x - h, y, **sie)
    _, ay1 = func.sie_deflection(x, y + h, **sie)
    _, ay0 = func.sie_deflection(x, y - h, **sie)
    kappa_fd = 0.5 * ((ax1 - ax0) + (ay1 - ay0)) / (2 * h)
    kappa = func.sie_convergence(x, y, **sie)
    r = np.hypot(x - sie["center_x"][:, None, None], y - sie["center_y"][:, None, None])
    far = r > 0.1
    assert np.allclose(kappa_fd[far], kappa[far], rtol=1e-4)


def test_sersic_matches_lenstronomy_and_total_flux():
    rng = np.random.default_rng(2)
    light = random_sersic(rng, 6, (0.05, 1.0), (0.5, 6.0), (0.0, 0.0))
    x, y, xr, yr = grid64()
    ours = profiles.sersic(*func.grid(SIZE, PIX, 1), light["amp"], light["R_sersic"],
                           light["n_sersic"], light["e1"], light["e2"], light["center_x"],
                           light["center_y"])
    model = LightModel(["SERSIC_ELLIPSE"])
    for i in range(6):
        ref = model.surface_brightness(xr, yr, kwargs_light(light, i)).reshape(SIZE, SIZE)
        assert np.allclose(ours[i], ref, rtol=2e-5, atol=1e-12 * ref.max())
        assert profiles.sersic_total_flux(light["amp"][i], light["R_sersic"][i],
                                          light["n_sersic"][i]) == pytest.approx(
            model.total_flux(kwargs_light(light, i))[0], rel=1e-10)


def lenstronomy_imsim(ss):
    data = ImageData(image_data=np.zeros((SIZE, SIZE)), transform_pix2angle=np.diag([PIX, PIX]),
                     ra_at_xy_0=-(SIZE - 1) / 2 * PIX, dec_at_xy_0=-(SIZE - 1) / 2 * PIX)
    return ImageModel(data, PSF(psf_type="NONE"), lens_model_class=LensModel(["SIE", "SHEAR"]),
                      source_model_class=LightModel(["SERSIC_ELLIPSE"]),
                      lens_light_model_class=LightModel(["SERSIC_ELLIPSE"]),
                      kwargs_numerics={"supersampling_factor": ss})


@pytest.mark.parametrize("ss", [1, 3])
def test_lensed_images_match_lenstronomy(ss):
    rng = np.random.default_rng(3 + ss)
    b = 4
    lens = random_lenses(rng, b)
    src = random_sersic(rng, b, (0.05, 0.3), (0.7, 4.0), (lens["center_x"], lens["center_y"]))
    ll = random_sersic(rng, b, (0.3, 1.2), (2.0, 5.0), (lens["center_x"], lens["center_y"]))
    x, y = func.grid(SIZE, PIX, ss)
    bx, by = func.ray_shoot(x, y, lens, src["center_x"], src["center_y"])
    ours_src = observe.downsample(profiles.sersic(
        bx, by, src["amp"], src["R_sersic"], src["n_sersic"], src["e1"], src["e2"], None, None),
        ss) * PIX ** 2
    ours_ll = observe.downsample(profiles.sersic(
        x, y, ll["amp"], ll["R_sersic"], ll["n_sersic"], ll["e1"], ll["e2"], ll["center_x"],
        ll["center_y"]), ss) * PIX ** 2
    imsim = lenstronomy_imsim(ss)
    for i in range(b):
        kl, ks, kll = kwargs_lens(lens, i), kwargs_light(src, i), kwargs_light(ll, i)
        ref_src = imsim.image(kl, ks, kll, lens_light_add=False)
        ref_ll = imsim.image(kl, ks, kll, source_add=False)
        for ours, ref in ((ours_src[i], ref_src), (ours_ll[i], ref_ll)):
            bright = ref > 1e-3 * ref.max()
            assert np.max(np.abs(ours[bright] / ref[bright] - 1)) < 1e-3
            assert np.max(np.abs(ours - ref)) < 1e-3 * ref.max()
        # total flux magnification, from the images: lensed / unlensed source flux
        unlensed = imsim.source_surface_brightness(ks, kl, unconvolved=True, de_lensed=True)
        mu_ref = ref_src.sum() / unlensed.sum()
        ours_unlensed = profiles.sersic(x, y, src["amp"][i:i + 1], src["R_sersic"][i:i + 1],
                                        src["n_sersic"][i:i + 1], src["e1"][i:i + 1],
                                        src["e2"][i:i + 1], src["center_x"][i:i + 1],
                                        src["center_y"][i:i + 1])
        mu = ours_src[i].sum() / (ours_unlensed.sum(dtype=np.float64) * (PIX / ss) ** 2)
        assert mu == pytest.approx(mu_ref, rel=1e-3)
        # the simulator's magnification: lensed flux in the cutout / exact total flux
        total = LightModel(["SERSIC_ELLIPSE"]).total_flux(ks)[0]
        mu_total = ours_src[i].sum() / profiles.sersic_total_flux(
            src["amp"][i], src["R_sersic"][i], src["n_sersic"][i])
        assert mu_total == pytest.approx(ref_src.sum() / total, rel=1e-3)


def test_sis_makes_a_ring_at_the_einstein_radius():
    theta_e = 1.0
    lens = dict(theta_e=[theta_e], e1=[0.0], e2=[0.0], center_x=[0.0], center_y=[0.0],
                g1=[0.0], g2=[0.0])
    x, y = func.grid(80, PIX, 3)
    bx, by = func.ray_shoot(x, y, lens)
    img = observe.downsample(profiles.sersic(bx, by, [1.0], [0.02], [1.0], [0.0], [0.0],
                                             [0.0], [0.0]), 3)[0]
    xx, yy = np.meshgrid(*func.pixel_coordinates(80, PIX, 1, np.float64))
    r = np.hypot(xx, yy)
    edges = np.arange(0, 1.8, PIX)
    prof = np.array([img[(r >= a) & (r < a + PIX)].mean() for a in edges])
    peak = edges[np.argmax(prof)] + PIX / 2
    assert abs(peak - theta_e) <= PIX
    ring = np.abs(r - theta_e) < 2 * PIX
    angles = np.arctan2(yy, xx)[ring]
    values = img[ring]
    sectors = [values[(angles >= a) & (angles < a + np.pi / 4)].mean()
               for a in np.arange(-np.pi, np.pi, np.pi / 4)]
    assert np.std(sectors) / np.mean(sectors) < 0.05  # a full, even ring
    assert img[np.abs(r - theta_e) > 0.3].max() < 1e-3 * img.max()


def test_fused_lensed_profile_matches_lenstronomy_source():
    """The simulator's fast path (ray-shooting straight into the source frame)."""
    rng = np.random.default_rng(7)
    b = 4
    lens = random_lenses(rng, b)
    src = random_sersic(rng, b, (0.05, 0.3), (0.7, 4.0), (lens["center_x"], lens["center_y"]))
    x, y = func.grid(SIZE, PIX, 2)
    setup = {"center_x": src["center_x"], "center_y": src["center_y"], "e1": src["e1"],
             "e2": src["e2"],
             "r_sersic": profiles.sersic_radius_scale(src["R_sersic"], src["n_sersic"])}
    r2 = func.lensed_radius2(x, y, lens, setup)
    sb = profiles.sersic_from_r2(r2, profiles.sersic_setup(src["amp"], src["R_sersic"],
                                                           src["n_sersic"]))
    xx, yy = (a[0].ravel().astype(np.float64) for a in np.broadcast_arrays(x, y))
    lm, light = LensModel(["SIE", "SHEAR"]), LightModel(["SERSIC_ELLIPSE"])
    for i in range(b):
        bx, by = lm.ray_shooting(xx, yy, kwargs_lens(lens, i))
        ref = light.surface_brightness(bx, by, kwargs_light(src, i)).reshape(sb[i].shape)
        bright = ref > 1e-3 * ref.max()
        assert np.max(np.abs(sb[i][bright] / ref[bright] - 1)) < 1e-3
