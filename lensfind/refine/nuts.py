"""NUTS with tfp.mcmc: dual-averaging step size, dense mass matrix by preconditioning.

Sampling ``z`` with ``theta = centre + L z`` (``L L^T = covariance``) under an identity mass matrix
is NUTS on ``theta`` with mass matrix ``covariance^-1``.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp


@dataclasses.dataclass(frozen=True)
class NutsSettings:
    """Chains, warm-up and kept draws per chain, tree depth, target acceptance, seed."""

    chains: int = 2
    warmup: int = 200
    draws: int = 200
    max_tree_depth: int = 6
    target_accept: float = 0.9
    seed: int = 0


@dataclasses.dataclass
class Chains:
    """Draws ``(chains, draws, P)``, per-draw divergence flags ``(chains, draws)``, final step
    size (whitened units) and mean leapfrog steps per draw."""

    samples: np.ndarray
    divergent: np.ndarray
    step_size: float
    leapfrogs: float


def cholesky(covariance: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a symmetric matrix, eigenvalues floored at 1e-10 of the largest."""
    cov = (covariance + covariance.T) / 2
    w, v = np.linalg.eigh(cov)
    w = np.maximum(w, 1e-10 * max(w.max(), 1e-300))
    return np.linalg.cholesky((v * w) @ v.T)


def sample(log_prob, centre: np.ndarray, covariance: np.ndarray,
           settings: NutsSettings) -> Chains:
    """NUTS draws of ``log_prob`` (``theta (B, P) -> (B,)`` TensorFlow) around ``centre (P,)``;
    the chains start at ``centre`` plus a tenth of a ``covariance`` draw."""
    chol = tf.constant(cholesky(covariance), tf.float32)
    mid = tf.constant(np.asarray(centre, np.float32))

    def whitened(z):
        return log_prob(mid + tf.linalg.matvec(chol, z))

    rng = np.random.default_rng(settings.seed)
    z0 = tf.constant(0.1 * rng.standard_normal((settings.chains, centre.size)), tf.float32)
    kernel = tfp.mcmc.DualAveragingStepSizeAdaptation(
        tfp.mcmc.NoUTurnSampler(whitened, step_size=0.3,
                                max_tree_depth=settings.max_tree_depth),
        num_adaptation_steps=int(0.8 * settings.warmup),
        target_accept_prob=settings.target_accept)

    @tf.function(autograph=False)
    def run():
        return tfp.mcmc.sample_chain(
            num_results=settings.draws, num_burnin_steps=settings.warmup, current_state=z0,
            kernel=kernel, seed=tf.constant([settings.seed, 1], tf.int32),
            trace_fn=lambda _, pkr: (pkr.inner_results.has_divergence,
                                     pkr.inner_results.leapfrogs_taken, pkr.new_step_size))

    z, (divergent, leapfrogs, step) = run()
    theta = mid + tf.linalg.matvec(chol, z)                    # (draws, chains, P)
    return Chains(np.transpose(theta.numpy(), (1, 0, 2)).astype(np.float64),
                  divergent.numpy().T, float(np.mean(step.numpy()[-1])),
                  float(leapfrogs.numpy().mean()))
