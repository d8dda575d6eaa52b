"""The refine engine on TensorFlow: ``tf.function`` autodiff and ``tfp.mcmc`` NUTS
(interface: :mod:`lensfind.refine.engines`)."""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from lensfind.refine.target import log_posterior, log_posterior_unconstrained


def _tensors(arrays):
    return tuple(tf.constant(a, tf.float32) for a in arrays)


@functools.lru_cache(maxsize=None)
def _value_and_gradient(key):
    @tf.function(reduce_retracing=True)
    def run(theta, arrays):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            value = log_posterior(theta, arrays, key)
        return value, tape.gradient(value, theta)
    return run


def value_and_gradient(key):
    run = _value_and_gradient(key)

    def call(theta, arrays):
        value, grad = run(tf.constant(theta, tf.float32), _tensors(arrays))
        return value.numpy(), grad.numpy()
    return call


@functools.lru_cache(maxsize=None)
def _hessian(key):
    @tf.function
    def run(x, arrays):
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                value = tf.reduce_sum(log_posterior(x, arrays, key))
            grad = inner.gradient(value, x)
        return outer.jacobian(grad, x)[0, :, 0, :]
    return run


def hessian(key, theta, arrays) -> np.ndarray:
    x = tf.constant(np.asarray(theta, np.float32)[None])
    return _hessian(key)(x, _tensors(arrays)).numpy().astype(np.float64)


@functools.lru_cache(maxsize=None)
def _nuts(key, settings):
    @tf.function(autograph=False)
    def run(arrays, mid, chol, z0, seed):
        def whitened(z):
            return log_posterior_unconstrained(mid + tf.linalg.matvec(chol, z), arrays, key)

        kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
            tfp.mcmc.NoUTurnSampler(whitened, step_size=0.3,
                                    max_tree_depth=settings.max_tree_depth),
            num_adaptation_steps=int(0.8 * settings.warmup),
            target_accept_prob=settings.target_accept)
        return tfp.mcmc.sample_chain(
            num_results=settings.draws, num_burnin_steps=settings.warmup, current_state=z0,
            kernel=kernel, seed=seed,
            trace_fn=lambda _, pkr: (pkr.inner_results.has_divergence,
                                     pkr.inner_results.leapfrogs_taken, pkr.new_step_size))
    return run


def nuts(key, arrays, mid, chol, z0, settings):
    z, (divergent, leapfrogs, step) = _nuts(key, settings)(
        _tensors(arrays), tf.constant(mid, tf.float32), tf.constant(chol, tf.float32),
        tf.constant(z0, tf.float32), tf.constant([settings.seed, 1], tf.int32))
    return z.numpy(), divergent.numpy(), leapfrogs.numpy(), step.numpy()
