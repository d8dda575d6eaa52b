"""The keras.ops forward model equals the NumPy simulator and differentiates correctly (runs on
the TensorFlow and the JAX backend)."""
from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from keras import ops

from lensfind.refine import forward, simulated
from lensfind.sim.simulate import simulate

CONFIG = simulated.clean_config(size=40, pixel_scale=0.06, supersampling=3, n_lenses=6,
                                lens_light={"magnitude": [19.0, 21.0]},
                                noise={"enabled": False})


@pytest.fixture(scope="module")
def noiseless():
    return simulate(CONFIG, seed=3)


def test_equals_the_numpy_simulator_pixel_by_pixel(noiseless):
    for row in range(len(noiseless)):
        theta = simulated.truth(noiseless.params, row, CONFIG)
        obs = simulated.observation(noiseless.params, row, CONFIG)
        model = ops.convert_to_numpy(forward.render(
            ops.convert_to_tensor(theta[None].astype(np.float32)), obs))[0]
        image = noiseless.images[row]
        assert model.dtype == np.float32
        assert np.abs(model - image).max() <= 1e-5 * image.max(), row
        # the tolerance is tight enough to see a 1 % error in the Einstein radius
        off = theta.copy()
        off[forward.NAMES.index("theta_e")] *= 1.01
        moved = ops.convert_to_numpy(forward.render(
            ops.convert_to_tensor(off[None].astype(np.float32)), obs))[0]
        assert np.abs(moved - image).max() > 10 * 1e-5 * image.max()


def test_a_sky_margin_models_a_crop_of_a_larger_image(noiseless):
    """A crop of a simulated cutout has light beyond its edges: with the PSF's half-width
    rendered around it (``with_sky_margin``) the model equals the simulator's pixels of the crop;
    zero padding (margin 0) falls short at the edges."""
    theta = simulated.truth(noiseless.params, 0, CONFIG)
    obs = simulated.observation(noiseless.params, 0, CONFIG)
    half = obs.psf.shape[0] // 2
    lo, side = half, CONFIG.size - 2 * half
    crop = noiseless.images[0][lo:lo + side, lo:lo + side]
    small = dataclasses.replace(obs, size=side)
    params = ops.convert_to_tensor(theta[None].astype(np.float32))
    sky = ops.convert_to_numpy(forward.render(params, small.with_sky_margin()))[0]
    dark = ops.convert_to_numpy(forward.render(params, small))[0]
    assert small.with_sky_margin().margin == half
    assert np.abs(sky - crop).max() <= 1e-5 * crop.max()
    assert np.abs(dark - crop)[0].max() > 1e-3 * crop.max()      # the edge row loses light


def _value_and_grad(fn, x):
    """``fn(x)`` (a scalar) and its gradient with TensorFlow's autodiff."""
    import tensorflow as tf
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return float(value), tape.gradient(value, x).numpy()


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="Keras's JAX backend computes arctan, arctanh, cos and sin in float32 "
                           "even for float64 inputs (keras 3.15 / jax 0.10): no float64 "
                           "finite differences there")
@pytest.mark.parametrize("row", [0, 1])
def test_gradients_agree_with_finite_differences(noiseless, row):
    """d(sum of model * weights)/d(each parameter) by autodiff against central differences in
    float64 (the model follows the parameters' dtype)."""
    theta = simulated.truth(noiseless.params, row, CONFIG)
    obs = simulated.observation(noiseless.params, row, CONFIG)
    weights = np.random.default_rng(row).uniform(0.5, 1.5, (CONFIG.size,) * 2)
    scale = np.abs(noiseless.images[row]).sum()

    def objective(p):
        return ops.sum(forward.render(p[None], obs) * weights) / scale

    _, grad = _value_and_grad(objective, ops.convert_to_tensor(theta))
    assert np.all(np.isfinite(grad))
    for i, name in enumerate(forward.NAMES):
        h = 1e-6 * max(1.0, abs(theta[i]))
        up, down = theta.copy(), theta.copy()
        up[i] += h
        down[i] -= h
        fd = (float(objective(ops.convert_to_tensor(up)))
              - float(objective(ops.convert_to_tensor(down)))) / (2 * h)
        assert grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-5 * float(np.abs(grad).max())), name
