"""The log-posterior of one cutout, pixel likelihood + box prior, as a pure ``keras.ops`` function.

:class:`Target` holds a cutout's data as float32 arrays and its pixel grid as a hashable ``key``;
:func:`log_posterior` takes both as arguments, so an engine's compiled functions
(:mod:`lensfind.refine.engines`) serve every cutout of one grid without being traced again.
"""
from __future__ import annotations

import numpy as np
from keras import ops

from lensfind.refine import forward
from lensfind.refine.likelihood import NoiseModel, log_likelihood
from lensfind.refine.prior import BoxPrior


def log_posterior(theta, arrays, key):
    """``log p(theta | image)`` up to a constant for ``theta (B, P)``: ``(B,)``.

    ``arrays`` and ``key`` are a :class:`Target`'s. Outside the prior box the value is ``-inf``;
    the model is evaluated at the parameters clipped into the box, so gradients stay finite."""
    image, psf, weight, base, low, high = arrays
    size, pixel_scale, supersampling, margin = key
    observation = forward.Observation(size, pixel_scale, supersampling, None, margin)
    clipped = ops.clip(theta, low, high)
    model = forward.render(clipped, observation, observation.grid("float32"), psf)
    value = log_likelihood(model, image, weight, base)
    inside = ops.all(ops.logical_and(theta >= low, theta <= high), axis=-1)
    return ops.where(inside, value, float("-inf"))


def log_posterior_unconstrained(u, arrays, key):
    """``log p(u | image)`` for ``u (B, P)`` on the real line, ``theta = low + (high - low)
    sigmoid(u)`` (:class:`~lensfind.refine.prior.BoxPrior`): :func:`log_posterior` plus the
    map's log-Jacobian (up to the constant ``sum log(high - low)``)."""
    low, high = arrays[4], arrays[5]
    # 1 / (1 + exp(-u)), not ops.sigmoid: XLA's fused logistic on CPU (jax 0.10) gave gradients
    # wrong by half inside jax.jit (tests/refine/test_target.py)
    theta = low + (high - low) / (1 + ops.exp(-u))
    log_jacobian = ops.sum(ops.log_sigmoid(u) + ops.log_sigmoid(-u), axis=-1)
    return log_posterior(theta, arrays, key) + log_jacobian


class Target:
    """One cutout's posterior: ``arrays`` (image, PSF, the noise model's variance terms, prior
    bounds; float32) and ``key`` (size, pixel scale, supersampling, margin) for
    :func:`log_posterior`."""

    def __init__(self, image: np.ndarray, observation: forward.Observation, noise: NoiseModel,
                 prior: BoxPrior):
        self.image = np.asarray(image, np.float32)
        self.observation = observation
        self.noise = noise
        self.prior = prior
        weight, base = noise.variance_terms(self.image.shape)
        self.arrays = (self.image, np.asarray(observation.psf, np.float32), weight, base,
                       prior.low.astype(np.float32), prior.high.astype(np.float32))
        self.key = (int(observation.size), float(observation.pixel_scale),
                    int(observation.supersampling), int(observation.margin))

    def log_prob(self, theta):
        """:func:`log_posterior` of ``theta (B, P)`` (eager)."""
        return log_posterior(ops.convert_to_tensor(np.asarray(theta, np.float32)), self.arrays,
                             self.key)
