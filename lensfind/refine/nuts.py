"""NUTS with tfp.mcmc: dual-averaging step size, dense mass matrix by preconditioning.

NUTS runs on the unconstrained ``u`` of the box prior (:class:`~lensfind.refine.prior.BoxPrior`),
so no chain meets a wall. Sampling ``z`` with ``u = centre + L z`` (``L L^T = covariance``, both
carried to ``u``) under an identity mass matrix is NUTS on ``u`` with mass matrix
``covariance^-1``. The sampler runs in the engine of the Keras backend
(:mod:`lensfind.refine.engines`).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from lensfind.refine import engines
from lensfind.refine.target import Target


@dataclasses.dataclass(frozen=True)
class NutsSettings:
    """Chains, warm-up and kept draws per chain, tree depth, target acceptance, seed, and the
    share of the warm-up after which the mass matrix is estimated again from the chains' own
    draws (``mass_window``; 0 keeps the starting covariance throughout)."""

    chains: int = 2
    warmup: int = 200
    draws: int = 200
    max_tree_depth: int = 6
    target_accept: float = 0.9
    seed: int = 0
    mass_window: float = 0.5

    def compiled(self) -> "NutsSettings":
        """The settings a compiled sampler depends on (seed and window set to 0)."""
        return dataclasses.replace(self, seed=0, mass_window=0.0)


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


def _window_covariance(u: np.ndarray) -> np.ndarray:
    """Covariance of draws ``u (draws, chains, P)`` pooled, shrunk towards its diagonal as Stan
    regularises its windowed estimate (weight n / (n + 5))."""
    flat = u.reshape(-1, u.shape[-1])
    n = len(flat)
    cov = np.cov(flat, rowvar=False)
    return (n / (n + 5)) * cov + (5 / (n + 5)) * np.diag(np.diag(cov))


def sample(target: Target, centre: np.ndarray, covariance: np.ndarray,
           settings: NutsSettings) -> Chains:
    """NUTS draws of ``target``'s posterior around ``centre (P,)`` with the mass matrix of
    ``covariance (P, P)`` (both of ``theta``); the chains start at ``centre`` plus a tenth of a
    ``covariance`` draw (in ``u``). With ``settings.mass_window``, the first part of the warm-up
    runs on its own and its draws give the mass matrix (and centre) of the rest."""
    prior, engine = target.prior, engines.current()
    mid = prior.to_unconstrained(centre)
    jac = prior.jacobian(mid)
    chol = cholesky(covariance / np.outer(jac, jac))
    rng = np.random.default_rng(settings.seed)
    z0 = 0.1 * rng.standard_normal((settings.chains, centre.size))
    first = int(settings.warmup * settings.mass_window)
    if first >= 20:
        window = dataclasses.replace(settings, warmup=first // 2, draws=first - first // 2)
        z = engine.nuts(target.key, target.arrays, mid.astype(np.float32), chol, z0,
                        window)[0]
        u = mid + z.astype(np.float64) @ chol.T
        mid = u.reshape(-1, u.shape[-1]).mean(axis=0)
        chol = cholesky(_window_covariance(u))
        z0 = np.linalg.solve(chol, (u[-1] - mid).T).T
        settings = dataclasses.replace(settings, warmup=settings.warmup - first,
                                       seed=settings.seed + 1)
    z, divergent, leapfrogs, step = engine.nuts(
        target.key, target.arrays, mid.astype(np.float32), chol, z0, settings)
    u = mid + z.astype(np.float64) @ chol.T                    # (draws, chains, P)
    return Chains(np.transpose(prior.from_unconstrained(u), (1, 0, 2)), divergent.T,
                  float(np.mean(step[-1])), float(leapfrogs.mean()))
