"""The log-posterior that NUTS samples: its compiled gradient on the unconstrained coordinates
equals finite differences for a batch of chains (runs on the TensorFlow and the JAX backend)."""
from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import ops

from lensfind.refine import nuts, simulated
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.refine.target import Target, log_posterior_unconstrained
from lensfind.sim.simulate import simulate

CONFIG = simulated.clean_config(size=24, pixel_scale=0.1, n_lenses=1)


def _compiled_value_and_grad(fn):
    """``x -> (fn(x), d sum(fn(x)) / dx)`` compiled as the engines compile (jit / tf.function)."""
    if keras.backend.backend() == "jax":
        import jax
        grad = jax.jit(jax.grad(lambda x: ops.sum(fn(x))))
        value = jax.jit(fn)
        return lambda x: (np.asarray(value(x)), np.asarray(grad(x)))
    import tensorflow as tf

    @tf.function
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            v = fn(x)
        return v, tape.gradient(v, x)
    return lambda x: tuple(a.numpy() for a in run(tf.constant(x)))


@pytest.fixture(scope="module")
def target():
    batch = simulate(CONFIG, seed=1)
    prior = BoxPrior.from_bounds(default_bounds(CONFIG.field_of_view))
    truth = simulated.truth(batch.params, 0, CONFIG)
    return Target(batch.images[0], simulated.observation(batch.params, 0, CONFIG),
                  simulated.noise_model(batch.params, 0, CONFIG), prior), truth


def test_compiled_gradient_of_the_unconstrained_posterior_matches_finite_differences(target):
    """Whitened coordinates ``z`` as NUTS moves them, two chains at once. Inside jax.jit, XLA's
    fused logistic on CPU once gave this gradient wrong by half (an ``ops.sigmoid`` map)."""
    t, truth = target
    arrays = tuple(ops.convert_to_tensor(a) for a in t.arrays)
    mid = t.prior.to_unconstrained(truth)
    chol = nuts.cholesky(np.diag((0.01 / t.prior.jacobian(mid)) ** 2)).astype(np.float32)
    mid_t, chol_t = ops.convert_to_tensor(mid.astype(np.float32)), ops.convert_to_tensor(chol)

    def whitened(z):
        return log_posterior_unconstrained(mid_t + ops.matmul(z, ops.transpose(chol_t)), arrays,
                                           t.key)

    run = _compiled_value_and_grad(whitened)
    rng = np.random.default_rng(0)
    z = (0.3 * rng.standard_normal((2, truth.size))).astype(np.float32)
    _, grad = run(z)
    for _ in range(3):
        d = rng.standard_normal(z.shape).astype(np.float32)
        eps = 0.05
        fd = (run(z + eps * d)[0] - run(z - eps * d)[0]) / (2 * eps)
        np.testing.assert_allclose((grad * d).sum(axis=1), fd, rtol=0.05, atol=0.5)


def test_the_map_to_the_real_line_round_trips_and_stays_inside(target):
    t, truth = target
    u = t.prior.to_unconstrained(truth)
    np.testing.assert_allclose(t.prior.from_unconstrained(u), truth, rtol=1e-9, atol=1e-12)
    edges = t.prior.from_unconstrained(t.prior.to_unconstrained(np.stack([t.prior.low,
                                                                           t.prior.high])))
    assert np.all(edges > t.prior.low) and np.all(edges < t.prior.high)
