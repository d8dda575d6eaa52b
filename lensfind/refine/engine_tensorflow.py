"""The refine engine on TensorFlow: ``tf.function`` autodiff and ``tfp.mcmc`` NUTS
(interface: :mod:`lensfind.refine.engines`)."""
from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from lensfind.refine.sampler import sample_chain
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

        return sample_chain(tfp, whitened, z0, seed, settings)
    return run


def nuts(key, arrays, mid, chol, z0, settings):
    z, (divergent, leapfrogs, step) = _nuts(key, settings.compiled())(
        _tensors(arrays), tf.constant(mid, tf.float32), tf.constant(chol, tf.float32),
        tf.constant(z0, tf.float32), tf.constant([settings.seed, 1], tf.int32))
    return z.numpy(), divergent.numpy(), leapfrogs.numpy(), step.numpy()
