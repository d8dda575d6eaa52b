"""The log-posterior of one cutout as a TensorFlow function: pixel likelihood + box prior.

The refine stage optimises and samples on the TensorFlow backend (tfp.mcmc); the forward model
itself is backend-neutral (:mod:`lensfind.refine.forward`).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from lensfind.refine import forward
from lensfind.refine.likelihood import NoiseModel, log_likelihood
from lensfind.refine.prior import BoxPrior


class Target:
    """``log p(theta | image)`` up to a constant, for ``theta (B, P)`` float32 tensors.

    Outside the prior box the value is ``-inf``; the model is evaluated at the parameters clipped
    into the box, so gradients stay finite there.
    """

    def __init__(self, image: np.ndarray, observation: forward.Observation, noise: NoiseModel,
                 prior: BoxPrior):
        self.image = np.asarray(image, np.float32)
        self.observation = observation
        self.noise = noise
        self.prior = prior
        self.grid = observation.grid("float32")
        self._low = tf.constant(prior.low, tf.float32)
        self._high = tf.constant(prior.high, tf.float32)

    def model(self, theta):
        return forward.render(theta, self.observation, self.grid)

    def log_prob(self, theta):
        clipped = tf.clip_by_value(theta, self._low, self._high)
        value = log_likelihood(self.model(clipped), self.image, self.noise)
        inside = tf.reduce_all((theta >= self._low) & (theta <= self._high), axis=-1)
        return tf.where(inside, value, tf.constant(-np.inf, tf.float32))

    def value_and_gradient(self):
        """A compiled ``theta (B, P) -> (log_prob (B,), gradient (B, P))``."""
        @tf.function(reduce_retracing=True)
        def run(theta):
            with tf.GradientTape() as tape:
                tape.watch(theta)
                value = self.log_prob(theta)
            return value, tape.gradient(value, theta)
        return run

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian ``(P, P)`` of the log-posterior at ``theta (P,)`` (float64 result)."""
        x = tf.constant(np.asarray(theta, np.float32)[None])
        with tf.GradientTape() as outer:
            outer.watch(x)
            with tf.GradientTape() as inner:
                inner.watch(x)
                value = tf.reduce_sum(self.log_prob(x))
            grad = inner.gradient(value, x)
        return outer.jacobian(grad, x)[0, :, 0, :].numpy().astype(np.float64)
