"""The refine engine on JAX: ``jax.jit`` autodiff and NUTS from TFP's JAX substrate
(interface: :mod:`lensfind.refine.engines`)."""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from tensorflow_probability.substrates import jax as tfp

from lensfind.refine.sampler import sample_chain
from lensfind.refine.target import log_posterior, log_posterior_unconstrained


def _arrays(arrays):
    return tuple(jnp.asarray(a, jnp.float32) for a in arrays)


@functools.lru_cache(maxsize=None)
def _value_and_gradient(key):
    def total(theta, arrays):
        value = log_posterior(theta, arrays, key)
        return jnp.sum(value), value

    grad = jax.grad(total, has_aux=True)

    @jax.jit
    def run(theta, arrays):
        g, value = grad(theta, arrays)
        return value, g
    return run


def value_and_gradient(key):
    run = _value_and_gradient(key)

    def call(theta, arrays):
        value, grad = run(jnp.asarray(theta, jnp.float32), _arrays(arrays))
        return np.asarray(value), np.asarray(grad)
    return call


@functools.lru_cache(maxsize=None)
def _hessian(key):
    return jax.jit(jax.hessian(lambda x, arrays: jnp.sum(log_posterior(x[None], arrays, key))))


def hessian(key, theta, arrays) -> np.ndarray:
    h = _hessian(key)(jnp.asarray(theta, jnp.float32), _arrays(arrays))
    return np.asarray(h, np.float64)


@functools.lru_cache(maxsize=None)
def _nuts(key, settings):
    @jax.jit
    def run(arrays, mid, chol, z0, seed):
        def whitened(z):
            return log_posterior_unconstrained(mid + z @ chol.T, arrays, key)

        return sample_chain(tfp, whitened, z0, seed, settings)
    return run


def nuts(key, arrays, mid, chol, z0, settings):
    z, (divergent, leapfrogs, step) = _nuts(key, settings.compiled())(
        _arrays(arrays), jnp.asarray(mid, jnp.float32), jnp.asarray(chol, jnp.float32),
        jnp.asarray(z0, jnp.float32), jax.random.PRNGKey(settings.seed))
    return tuple(np.asarray(a) for a in (z, divergent, leapfrogs, step))
