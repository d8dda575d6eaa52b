"""Device-side augmentation (keras.ops) against the host path and against renders."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.config.train import AugmentConfig
from lensfind.data.augment import (PARAM_RULES, LabelTransform, Transform, apply_transforms,
                                   needed_params, random_transforms, transform_params)
from lensfind.data.device_augment import LabelPlan, is_packed, resample
from lensfind.data.sequence import AugmentedSequence
from tests.data.test_augment import LENS, SIZE, _render, _transformed

RNG = np.random.default_rng(11)


def _random(n, **kw):
    return Transform.make(n, angle_deg=RNG.uniform(-180, 180, n), zoom=RNG.uniform(0.7, 1.3, n),
                          shear_deg=RNG.uniform(-20, 20, n), flip_x=RNG.random(n) < 0.5,
                          flip_y=RNG.random(n) < 0.5, **kw)


@pytest.mark.parametrize("fill_mode", ["mirror", "nearest"])
@pytest.mark.parametrize("shape", [(12, 33, 33, 1), (6, 20, 28, 3)])
def test_device_resampling_matches_the_host_path(fill_mode, shape):
    x = RNG.normal(size=shape).astype(np.float32)
    t = _random(shape[0])
    host = apply_transforms(x, t, fill_mode=fill_mode)
    device = np.asarray(resample(x, t.packed(), fill_mode))
    assert device.shape == shape and device.dtype == np.float32
    # float32 positions and weights against float64: interpolation round-off only
    assert np.abs(device - host).max() < 1e-4 * np.abs(x).max()
    assert np.abs(device - x).max() > 0.5  # and it did move the pixels


def test_moves_of_the_square_grid_are_exact_permutations():
    x = RNG.normal(size=(16, 15, 15, 2)).astype(np.float32)
    t = Transform.make(16, angle_deg=90 * RNG.integers(-4, 4, 16), flip_x=RNG.random(16) < 0.5,
                       flip_y=RNG.random(16) < 0.5)
    device = np.asarray(resample(x, t.packed()))
    assert np.array_equal(device, apply_transforms(x, t))
    assert np.array_equal(np.sort(device.ravel()), np.sort(x.ravel()))


def test_unknown_fill_mode_is_refused():
    with pytest.raises(ValueError, match=r"fill_mode = 'wrap' is invalid: expected one of"):
        resample(np.zeros((1, 4, 4, 1), np.float32), Transform.identity(1).packed(), "wrap")


def test_label_plan_matches_the_host_rules_for_every_parameter():
    names = list(PARAM_RULES)
    n = 64
    params = {p: RNG.normal(size=n) for p in needed_params(names)}
    t = random_transforms(RNG, n, AugmentConfig(shear_deg=0.0, zoom=(0.8, 1.2)),
                          allow_shear=False)
    host = transform_params(params, names, t)
    raw = LabelTransform(params, names).raw(np.arange(n))
    device = np.asarray(LabelPlan.from_names(names).apply(raw, t.packed()))
    for k, name in enumerate(names):
        np.testing.assert_allclose(device[:, k], host[name], rtol=2e-5, atol=2e-6,
                                   err_msg=name)


@pytest.mark.parametrize("kw", [
    {"angle_deg": 30}, {"angle_deg": -41, "flip_x": True}, {"zoom": 0.9},
    {"angle_deg": 17, "zoom": 0.92, "flip_y": True}, {"angle_deg": 90, "flip_x": True},
])
def test_device_labels_follow_a_render_of_the_moved_lens(kw):
    """The device-resampled render equals a render of the device-transformed parameters, to
    the accuracy of the host path (test_augment's test_general_moves_...)."""
    t = Transform.make(1, **kw)
    image = _render(LENS)
    moved = np.asarray(resample(image[None, ..., None], t.packed()))[0, ..., 0]
    names = list(LENS)
    raw = LabelTransform({k: np.array([v]) for k, v in LENS.items()}, names).raw([0])
    labels = np.asarray(LabelPlan.from_names(names).apply(raw, t.packed()))[0]
    device = dict(zip(names, map(float, labels)))
    host = _transformed(LENS, t)
    assert device == pytest.approx(host, rel=1e-5, abs=1e-6)
    c = (SIZE - 1) / 2
    inner = np.hypot(*np.mgrid[:SIZE, :SIZE] - c) < SIZE / 2 - 4
    d = (moved - _render(device))[inner]
    err = np.sqrt((d ** 2).sum() / (image[inner] ** 2).sum())
    assert err < 0.06, err
    d = (moved - _render(LENS))[inner]
    assert np.sqrt((d ** 2).sum() / (image[inner] ** 2).sum()) > 5 * err


IMAGES = np.random.default_rng(3).normal(size=(30, 10, 10)).astype(np.float32)


def _seq(targets=np.arange(30) % 2, **kw):
    args = dict(batch_size=8, seed=2, fold=1, augment=AugmentConfig(), threads=1)
    return AugmentedSequence(IMAGES, targets, np.arange(3, 27), **{**args, **kw})


def test_device_batches_carry_the_images_and_the_host_paths_transforms():
    host, device = _seq(), _seq(device_augment=True)
    for epoch in (0, 3):
        for i in (0, len(host) - 1):
            (xh, yh), (xd, yd) = host.batch(i, epoch), device.batch(i, epoch)
            assert is_packed(xd) and xd["transform"].shape == (len(yh), 7)
            idx = host.order(epoch)[i * 8:(i + 1) * 8]
            assert np.array_equal(xd["images"][..., 0], host.images[idx])  # untouched
            assert np.array_equal(yd, yh)
            again = np.asarray(resample(xd["images"], xd["transform"]))
            assert np.abs(again - xh).max() < 1e-4 * np.abs(host.images).max()


def test_resident_batches_equal_host_memory_batches():
    a, b = _seq(device_augment=True), _seq(device_augment=True, resident=True)
    for i in range(len(a)):
        xa, ya = a[i]
        xb, yb = b[i]
        assert np.array_equal(np.asarray(xb["images"]), xa["images"])
        assert np.array_equal(xb["transform"], xa["transform"]) and np.array_equal(ya, yb)


def test_device_regression_batches_carry_raw_columns():
    params = {p: RNG.normal(size=30) for p in ("theta_e", "e1", "e2", "center_x", "center_y")}
    fn = LabelTransform(params, ["theta_e", "e1", "center_x"])
    seq = _seq(device_augment=True, label_fn=fn, targets=None,
               augment=AugmentConfig(shear_deg=15.0))
    x, y = seq[1]
    idx = seq.order()[8:16]
    assert y.shape == (8, 5) and fn.needed == ["center_x", "center_y", "e1", "e2", "theta_e"]
    assert np.array_equal(y, fn.raw(idx))
    host_y = _seq(label_fn=fn, targets=None, augment=AugmentConfig(shear_deg=15.0))[1][1]
    device_y = np.asarray(LabelPlan.from_names(fn.names).apply(y, x["transform"]))
    np.testing.assert_allclose(device_y, host_y, rtol=2e-5, atol=2e-6)
    with pytest.raises(ValueError, match="raw columns"):
        _seq(device_augment=True, label_fn=lambda idx, t: idx, targets=None)


def test_data_on_device_setting():
    from lensfind.data.sequence import RESIDENT_MAX_BYTES, data_on_device
    assert data_on_device(True, 10) and not data_on_device(False, 10)
    assert not data_on_device("auto", 10)  # CPU only here: no accelerator to keep it on
    assert not data_on_device("auto", RESIDENT_MAX_BYTES + 1)
