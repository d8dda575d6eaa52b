"""Autodiff and NUTS for the refine stage, one engine per Keras backend.

Each engine module provides, for a :class:`~lensfind.refine.target.Target`'s ``key`` and
``arrays`` (compiled once per key and NUTS settings, not per cutout):

- ``value_and_gradient(key)``: ``(theta (B, P), arrays) -> (log_prob (B,), gradient (B, P))``;
- ``hessian(key, theta (P,), arrays)``: the Hessian ``(P, P)``;
- ``nuts(key, arrays, mid (P,), chol (P, P), z0 (C, P), settings)``: NUTS on the whitened
  ``z`` of the unconstrained ``u = mid + chol z``
  (:func:`~lensfind.refine.target.log_posterior_unconstrained`) -> ``(z (draws, C, P),
  divergent, leapfrogs (draws, C), step size (draws, C))``;

all returning NumPy arrays. The TensorFlow engine uses ``tfp.mcmc``; the JAX engine the same
sampler from ``tensorflow_probability.substrates.jax``, which needs a TFP whose JAX substrate
imports with the installed JAX (tfp-nightly; ``make test-jax`` puts it first on the path).
"""
from __future__ import annotations

import importlib
from types import ModuleType

import keras

from lensfind.validation import fail

#: Keras backend -> engine module
ENGINES = {"tensorflow": "lensfind.refine.engine_tensorflow",
           "jax": "lensfind.refine.engine_jax"}


def current() -> ModuleType:
    """The engine of the running Keras backend."""
    backend = keras.backend.backend()
    if backend not in ENGINES:
        fail("Keras backend for lensfind refine", backend, sorted(ENGINES))
    return importlib.import_module(ENGINES[backend])
