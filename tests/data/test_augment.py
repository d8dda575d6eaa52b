"""Augmentation: pixel/axis convention, exact moves, label-aware parameter changes checked on
images rendered with the simulator's own lens and light functions, reproducible sequences."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.data.augment import (PARAM_RULES, Transform, apply_transforms, check_label_aware,
                                   random_transforms, transform_params)
from lensfind.data.sequence import AugmentedSequence
from lensfind.config.train import AugmentConfig
from lensfind.seeds import rng_for


def _point(size, x, y):
    """Image with one bright pixel at (x, y) pixels from the centre (sim convention)."""
    img = np.zeros((1, size, size), np.float32)
    c = (size - 1) / 2
    img[0, int(round(c + y)), int(round(c + x))] = 1.0
    return img


def _where(img):
    size = img.shape[-1]
    c = (size - 1) / 2
    r, col = np.unravel_index(np.argmax(img[0]), img[0].shape)
    return col - c, r - c


@pytest.mark.parametrize("kw, expect", [
    ({"angle_deg": 90}, (0, 6)),        # counter-clockwise in the x-right, y-up frame
    ({"angle_deg": -90}, (0, -6)),
    ({"angle_deg": 180}, (-6, 0)),
    ({"flip_x": True}, (-6, 0)),        # horizontal flip mirrors x
    ({"flip_y": True}, (6, 0)),         # vertical flip leaves a point on the x axis
    ({"zoom": 0.5}, (12, 0)),           # zoom < 1 magnifies by 1/zoom
])
def test_convention_single_pixel(kw, expect):
    img = _point(31, 6, 0)
    out = apply_transforms(img, Transform.make(1, **kw))
    assert _where(out) == pytest.approx(expect)
    assert out.max() == pytest.approx(1.0, abs=1e-6)


def test_identity_and_rot90_are_exact_and_match_numpy():
    rng = np.random.default_rng(0)
    imgs = rng.normal(size=(3, 20, 20)).astype(np.float32)
    assert np.array_equal(apply_transforms(imgs, Transform.identity(3)), imgs)
    # +90 deg with y along rows is np.rot90 clockwise on the array (axes row, col)
    out = apply_transforms(imgs, Transform.make(3, angle_deg=90))
    assert np.allclose(out, np.rot90(imgs, k=-1, axes=(1, 2)), atol=1e-6)
    flipped = apply_transforms(imgs, Transform.make(3, flip_x=True, flip_y=True))
    assert np.allclose(flipped, imgs[:, ::-1, ::-1], atol=1e-6)
    with_channel = apply_transforms(imgs[..., None], Transform.make(3, angle_deg=90))
    assert with_channel.shape == (3, 20, 20, 1)
    assert np.allclose(with_channel[..., 0], out)


def test_fill_modes_keep_values_finite_and_in_range():
    rng = np.random.default_rng(1)
    imgs = rng.uniform(1, 2, size=(4, 16, 16)).astype(np.float32)
    t = Transform.make(4, angle_deg=45, zoom=1.3, shear_deg=15)
    for mode in ("mirror", "nearest"):
        out = apply_transforms(imgs, t, fill_mode=mode)
        assert np.isfinite(out).all() and out.min() >= 1 - 1e-6 and out.max() <= 2 + 1e-6
    with pytest.raises(ValueError, match="fill_mode"):
        apply_transforms(imgs, t, fill_mode="wrap")


def test_random_transforms_follow_the_config():
    cfg = AugmentConfig(rotation_deg=45, zoom=(0.9, 1.0), shear_deg=15)
    t = random_transforms(np.random.default_rng(0), 4000, cfg)
    assert np.abs(np.rad2deg(t.angle)).max() <= 45 and np.rad2deg(t.angle).std() > 20
    assert t.zoom.min() >= 0.9 and t.zoom.max() <= 1.0
    assert np.abs(np.rad2deg(t.shear)).max() <= 15
    assert 0.45 < t.flip_x.mean() < 0.55 and 0.45 < t.flip_y.mean() < 0.55
    off = random_transforms(np.random.default_rng(0), 100,
                            AugmentConfig(flip_horizontal=False, flip_vertical=False),
                            allow_shear=False)
    assert not off.flip_x.any() and not off.flip_y.any() and not off.shear.any()


# ----------------------------------------------------------------- label-aware, on lens images

PIXEL_SCALE = 0.08
SIZE = 64


def _render(p: dict, size: int = SIZE, pixel_scale: float = PIXEL_SCALE) -> np.ndarray:
    """Noiseless SIE + shear lens of a Sersic source plus Sersic lens light, with the simulator's
    functions (its coordinate convention), point-sampled at pixel centres."""
    from lensfind.sim import func, profiles
    x, y = func.grid(size, pixel_scale, dtype=np.float64)
    one = {k: np.atleast_1d(np.float64(v)) for k, v in p.items()}
    lens = {k: one[k] for k in ("theta_e", "e1", "e2", "center_x", "center_y", "g1", "g2")}
    bx, by = func.ray_shoot(x, y, lens)
    src = profiles.sersic(bx, by, 1.0, one["source_r_sersic"], 1.0, one["source_e1"],
                          one["source_e2"], one["source_x"], one["source_y"])
    light = profiles.sersic(np.broadcast_to(x, bx.shape), np.broadcast_to(y, by.shape), 0.3,
                            one["light_r_sersic"], 1.5, one["light_e1"], one["light_e2"],
                            one["light_x"], one["light_y"])
    return (src + light)[0].astype(np.float64)


LENS = {"theta_e": 0.9, "e1": 0.15, "e2": -0.08, "center_x": 0.12, "center_y": -0.07,
        "g1": 0.04, "g2": 0.03, "source_x": 0.25, "source_y": 0.1, "source_e1": 0.2,
        "source_e2": 0.1, "source_r_sersic": 0.25, "light_x": 0.12, "light_y": -0.07,
        "light_e1": 0.1, "light_e2": -0.05, "light_r_sersic": 0.5, "magnification": 7.0}


def _transformed(p, t):
    names = list(p)
    new = transform_params({k: np.array([v]) for k, v in p.items()}, names, t)
    return {k: float(v[0]) for k, v in new.items()}


@pytest.mark.parametrize("kw", [
    {"angle_deg": 90}, {"angle_deg": -90}, {"angle_deg": 180}, {"flip_x": True},
    {"flip_y": True}, {"flip_x": True, "angle_deg": 90}, {"flip_y": True, "angle_deg": -90},
])
def test_exact_moves_of_a_simulated_lens_match_a_simulation_of_the_moved_parameters(kw):
    t = Transform.make(1, **kw)
    image = _render(LENS)
    moved = apply_transforms(image[None], t)[0]
    expected = _render(_transformed(LENS, t))
    assert np.abs(moved - expected).max() < 1e-5 * image.max()
    # and the change is not trivial
    assert np.abs(moved - image).max() > 0.05 * image.max()


@pytest.mark.parametrize("kw", [
    {"angle_deg": 30}, {"angle_deg": -41, "flip_x": True}, {"zoom": 0.9},
    {"angle_deg": 17, "zoom": 0.92, "flip_y": True},
])
def test_general_moves_match_to_interpolation_accuracy(kw):
    t = Transform.make(1, **kw)
    image = _render(LENS)
    moved = apply_transforms(image[None], t)[0]
    right = _transformed(LENS, t)
    # labels left unchanged, or ellipticity/shear turned like a vector (1 x angle, not 2 x)
    spin1 = dict(right)
    for a, b in (("e1", "e2"), ("g1", "g2"), ("source_e1", "source_e2"),
                 ("light_e1", "light_e2")):
        z = complex(right[a], right[b]) * np.exp(-1j * t.angle[0])
        spin1[a], spin1[b] = z.real, z.imag
    c = (SIZE - 1) / 2
    r = np.hypot(*np.mgrid[:SIZE, :SIZE] - c)
    inner = r < SIZE / 2 - 4  # away from the filled corners

    def rel(params):  # relative L2 difference (bilinear resampling blurs thin arcs a little)
        d = (moved - _render(params))[inner]
        return np.sqrt((d ** 2).sum() / (image[inner] ** 2).sum())

    err = rel(right)
    assert err < 0.06, err
    assert rel(LENS) > 5 * err
    if t.angle[0]:
        assert rel(spin1) > 2 * err


def test_residual_is_interpolation_error_shrinking_with_pixel_size():
    t = Transform.make(1, angle_deg=30, zoom=0.95)
    errs = []
    for size, scale in ((64, 0.08), (128, 0.04)):
        image = _render(LENS, size, scale)
        moved = apply_transforms(image[None], t)[0]
        d = moved - _render(_transformed(LENS, t), size, scale)
        r = np.hypot(*np.mgrid[:size, :size] - (size - 1) / 2)
        inner = r < 0.43 * size
        errs.append(np.sqrt((d[inner] ** 2).sum() / (image[inner] ** 2).sum()))
    assert errs[1] < 0.4 * errs[0]   # bilinear: error ~ pixel size squared


def test_centre_label_follows_a_blob():
    rng = np.random.default_rng(5)
    t = random_transforms(rng, 8, AugmentConfig(shear_deg=0.0))
    yy, xx = np.mgrid[:41, :41] - 20.0
    cx, cy = rng.uniform(-6, 6, 8), rng.uniform(-6, 6, 8)
    blobs = np.exp(-((xx - cx[:, None, None]) ** 2 + (yy - cy[:, None, None]) ** 2) / 4.0)
    out = apply_transforms(blobs, t)
    new = transform_params({"center_x": cx, "center_y": cy}, ["center_x", "center_y"], t)
    mx = (out * xx).sum((1, 2)) / out.sum((1, 2))
    my = (out * yy).sum((1, 2)) / out.sum((1, 2))
    assert np.allclose(mx, new["center_x"], atol=0.05)
    assert np.allclose(my, new["center_y"], atol=0.05)


def test_param_rules_and_refusals():
    t = Transform.make(2, angle_deg=45, zoom=0.8)
    out = transform_params({"e1": np.array([0.2, np.nan]), "e2": np.array([0.0, np.nan]),
                            "theta_e": np.array([1.0, np.nan]),
                            "magnification": np.array([5.0, np.nan])},
                           ["e1", "e2", "theta_e", "magnification"], t)
    # e rotates by 2 * 45 deg: (0.2, 0) -> (0, 0.2); theta_e -> theta_e / zoom
    assert out["e1"][0] == pytest.approx(0.0, abs=1e-12) and out["e2"][0] == pytest.approx(0.2)
    assert out["theta_e"][0] == pytest.approx(1.25) and out["magnification"][0] == 5.0
    assert all(np.isnan(v[1]) for v in out.values())
    with pytest.raises(ValueError, match="no augmentation rule for target"):
        check_label_aware(["theta_e", "bogus"])
    with pytest.raises(ValueError, match="shear_deg = 15.0 is invalid for regression"):
        check_label_aware(["theta_e"], AugmentConfig(shear_deg=15.0))
    with pytest.raises(ValueError, match="needs parameter"):
        transform_params({"e1": np.ones(2)}, ["e1"], t)
    with pytest.raises(ValueError, match="shear = 0"):
        transform_params({"theta_e": np.ones(2)}, ["theta_e"], Transform.make(2, shear_deg=5))
    assert set(PARAM_RULES) >= {"theta_e", "e1", "e2", "center_x", "center_y", "g1", "g2",
                                "magnification"}


# ------------------------------------------------------------------------------ the sequence

def _seq(**kw):
    rng = np.random.default_rng(0)
    images = rng.normal(size=(50, 12, 12)).astype(np.float32)
    labels = (np.arange(50) % 2).astype(np.int32)
    args = dict(batch_size=8, seed=3, fold=1, augment=AugmentConfig())
    args.update(kw)
    return AugmentedSequence(images, labels, np.arange(5, 45), **args)


def test_sequence_batches_are_pure_functions_of_seed_fold_epoch_batch():
    a, b = _seq(), _seq()
    assert len(a) == 5
    b.set_epoch(4)
    _ = b[2]           # drawing other batches first changes nothing
    b.set_epoch(0)
    xa, ya = a[3]
    xb, yb = b[3]
    assert xa.shape == (8, 12, 12, 1) and xa.dtype == np.float32
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    a.set_epoch(1)
    assert not np.array_equal(a[3][0], xb)
    assert not np.array_equal(_seq(fold=2)[3][0], xb)
    assert not np.array_equal(_seq(seed=4)[3][0], xb)


def test_sequence_epoch_covers_each_index_once_and_augments_training_only():
    seq = _seq(augment=None)
    seen = np.concatenate([seq.order()[i * 8:(i + 1) * 8] for i in range(len(seq))])
    assert np.array_equal(np.sort(seen), np.arange(5, 45))
    x, y = seq[0]
    idx = seq.order()[:8]
    assert np.array_equal(x[..., 0], seq.images[idx])      # no augmentation: images as they are
    assert np.array_equal(y, seq.targets[idx])
    assert not np.array_equal(seq.order(0), seq.order(1))
    assert np.array_equal(_seq(shuffle=False).order(3), np.arange(5, 45))


def test_sequence_label_fn_gets_the_batch_transforms():
    calls = []

    def label_fn(idx, t):
        calls.append((idx, t))
        return np.stack([idx.astype(float), np.rad2deg(t.angle), t.shear], 1)

    seq = AugmentedSequence(np.zeros((20, 8, 8), np.float32), None, None, batch_size=4, seed=1,
                            augment=AugmentConfig(shear_deg=15.0), label_fn=label_fn)
    _, y = seq[1]
    assert y.shape == (4, 3)
    assert np.all(y[:, 2] == 0)        # shear is off for label-aware augmentation
    assert np.abs(y[:, 1]).max() > 0
    assert np.array_equal(y[:, 0], seq.order()[4:8])
    (idx, t), = calls                  # one call for the batch, with its own transforms
    assert np.array_equal(idx, seq.order()[4:8]) and t.angle.shape == (4,)
    with pytest.raises(ValueError, match="targets or a label_fn"):
        AugmentedSequence(np.zeros((4, 8, 8)), None)
    assert rng_for(1, "augment", 0, 0, 0).random() == rng_for(1, "augment", 0, 0, 0).random()


def _noise_after(cfg, n=64, size=48, seed=3):
    """Pixel sigma and the mean correlation of horizontal and vertical neighbours of unit white
    noise after one random augmentation per image (inner pixels, away from mirrored edges)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=(n, size, size)).astype(np.float32)
    out = apply_transforms(noise, random_transforms(rng, n, cfg, allow_shear=False))
    inner = out[:, 8:-8, 8:-8].astype(np.float64)
    sigma = inner.std()
    corr = 0.5 * (np.mean(inner[:, :, 1:] * inner[:, :, :-1])
                  + np.mean(inner[:, 1:] * inner[:, :-1])) / inner.var()
    return sigma, corr


def test_continuous_rotations_smooth_white_noise():
    sigma, corr = _noise_after(AugmentConfig(rotation_deg=180, zoom=(1.0, 1.0), shear_deg=0))
    assert 0.62 < sigma < 0.72 and 0.2 < corr < 0.32     # the trap: 0.67 and 0.26


def test_right_angle_moves_keep_white_noise():
    cfg = AugmentConfig(rotation="right_angles", zoom=(1.0, 1.0), shear_deg=0)
    sigma, corr = _noise_after(cfg)
    assert abs(sigma - 1.0) < 0.02 and abs(corr) < 0.02
    t = random_transforms(np.random.default_rng(0), 4000, cfg)
    assert set(np.round(np.rad2deg(t.angle)).tolist()) == {0.0, 90.0, 180.0, 270.0}


@pytest.mark.parametrize("angle", [90, 180, 270, -90])
@pytest.mark.parametrize("flip_x, flip_y", [(False, False), (True, False), (False, True)])
def test_grid_moves_are_exact_and_agree_with_the_resampled_path(angle, flip_x, flip_y):
    rng = np.random.default_rng(4)
    imgs = rng.normal(size=(2, 15, 15)).astype(np.float32)
    exact = apply_transforms(imgs, Transform.make(2, angle_deg=angle, flip_x=flip_x,
                                                  flip_y=flip_y))
    nudged = apply_transforms(imgs, Transform.make(2, angle_deg=angle + 1e-6, flip_x=flip_x,
                                                   flip_y=flip_y))   # bilinear path
    assert np.allclose(exact, nudged, atol=1e-4)
    assert sorted(exact[0].ravel().tolist()) == sorted(imgs[0].ravel().tolist())
