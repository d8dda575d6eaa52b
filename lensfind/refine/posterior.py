"""Refine one candidate: network start -> MAP -> NUTS -> diagnostics.

The network gives the lens parameters' mean and covariance (:class:`NetworkPosterior`); a fast fit
adds the light and source; the pixel likelihood is maximised over everything; NUTS samples the
posterior with a mass matrix from a covariance (:data:`MASS_MATRICES`).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from lensfind.refine import diagnostics, engines, fit, integration, nuts
from lensfind.refine.forward import LENS_NAMES, NAMES, Observation
from lensfind.refine.likelihood import NoiseModel
from lensfind.refine.prior import BoxPrior
from lensfind.refine.target import Target
from lensfind.validation import fail


@dataclasses.dataclass(frozen=True)
class NetworkPosterior:
    """The regression network's Gaussian posterior over some of the lens parameters ``names``
    (a subset of :data:`~lensfind.refine.forward.LENS_NAMES`): ``mean (K,)``, ``cov (K, K)``."""

    names: tuple[str, ...]
    mean: np.ndarray
    cov: np.ndarray

    def check(self, where: str) -> None:
        unknown = [n for n in self.names if n not in LENS_NAMES]
        if unknown:
            fail(f"{where}: network parameters", list(self.names),
                 f"names from {list(LENS_NAMES)} (unknown {unknown})")
        k = len(self.names)
        if np.shape(self.mean) != (k,) or np.shape(self.cov) != (k, k) \
                or not np.all(np.isfinite(self.mean)) or not np.all(np.isfinite(self.cov)):
            fail(f"{where}: network mean, covariance shapes", (np.shape(self.mean),
                                                                np.shape(self.cov)),
                 f"finite arrays of shapes ({k},) and ({k}, {k})")

    def lens_starts(self, count: int, seed: int) -> np.ndarray:
        """``(count, 7)`` lens parameters (LENS_NAMES order): the network's mean, then draws
        from its posterior (``seed``); 0 for what it does not give (the shear)."""
        rng = np.random.default_rng(seed)
        draws = rng.multivariate_normal(self.mean, self.cov, size=count - 1, method="eigh")
        out = np.zeros((count, len(LENS_NAMES)))
        for j, name in enumerate(self.names):
            out[:, LENS_NAMES.index(name)] = np.concatenate([[self.mean[j]], draws[:, j]])
        return out


def _laplace(target: Target, theta: np.ndarray, _network: NetworkPosterior) -> np.ndarray:
    """Inverse of the negative Hessian at the MAP (eigenvalues floored); the optimiser's
    :data:`~lensfind.refine.fit.SCALES` squared where the Hessian is not finite."""
    h = -engines.current().hessian(target.key, theta, target.arrays)
    if not np.all(np.isfinite(h)):
        return np.diag(np.array([fit.SCALES[n] for n in NAMES]) ** 2)
    h = (h + h.T) / 2
    w, v = np.linalg.eigh(h)
    w = np.maximum(w, 1e-6 * max(w.max(), 1e-300))
    return (v / w) @ v.T


def _network(target: Target, theta: np.ndarray, network: NetworkPosterior) -> np.ndarray:
    """The network's covariance for the lens parameters it predicts, the Laplace covariance's
    block for the others (no correlation between the two groups)."""
    cov = _laplace(target, theta, network)
    lens = [NAMES.index(n) for n in network.names]
    other = [i for i in range(len(NAMES)) if i not in lens]
    out = np.zeros_like(cov)
    out[np.ix_(other, other)] = cov[np.ix_(other, other)]
    out[np.ix_(lens, lens)] = network.cov
    return out


#: name -> (target, MAP, network posterior) -> covariance defining NUTS's mass matrix
MASS_MATRICES = {"laplace": _laplace, "network": _network}


def _prior_lens_start(prior: BoxPrior) -> np.ndarray:
    """Lens start without the network: the middle of the prior box (a round, centred lens),
    ``(1, 7)``."""
    index = [NAMES.index(n) for n in LENS_NAMES]
    return ((prior.low[index] + prior.high[index]) / 2)[None]


#: lens starts drawn from the network's posterior (its mean included) for the start search
LENS_STARTS = 8

#: name -> (network posterior, prior, seed) -> lens-parameter starts ``(K, 7)``
STARTS = {"network": lambda network, prior, seed: prior.clip_lens(
              network.lens_starts(LENS_STARTS, seed)),
          "prior": lambda network, prior, seed: _prior_lens_start(prior)}


@dataclasses.dataclass
class Refined:
    """Result for one candidate: posterior ``samples (chains, draws, P)``, the ``map`` and
    ``start`` vectors ``(P,)``, per-parameter ``diagnostics``, the failing diagnostic (``flag``,
    None when converged), NUTS step size and leapfrogs per draw, wall times [s], and the
    pixel-integration chi2 at the MAP (:mod:`lensfind.refine.integration`)."""

    samples: np.ndarray
    map: np.ndarray
    start: np.ndarray
    diagnostics: dict
    flag: str | None
    divergent: float
    step_size: float
    leapfrogs: float
    seconds: dict
    integration_chi2: float

    def summary(self) -> dict[str, dict[str, float]]:
        """name -> mean, 16th and 84th percentiles of the posterior."""
        flat = self.samples.reshape(-1, self.samples.shape[-1])
        lo, hi = np.percentile(flat, [15.865, 84.135], axis=0)
        return {n: {"mean": float(flat[:, i].mean()), "p16": float(lo[i]), "p84": float(hi[i])}
                for i, n in enumerate(NAMES)}


def refine(image: np.ndarray, observation: Observation, noise: NoiseModel,
           network: NetworkPosterior, prior: BoxPrior, *, where: str = "candidate",
           image_units: str = "electron", settings: nuts.NutsSettings = nuts.NutsSettings(),
           limits: diagnostics.Limits = diagnostics.Limits(), start: str = "network",
           mass_matrix: str = "laplace") -> Refined:
    """Posterior of the forward model's parameters for one cutout ``image (n, n)`` (sky
    subtracted, ``image_units``). Refused before any work (naming ``where``): a noise model in
    other units, a network posterior of the wrong shape, a prior that excludes its mean."""
    noise.check(image_units, where)
    network.check(where)
    prior.check_contains(network.names, network.mean, where)
    if np.shape(image) != (observation.size,) * 2:
        fail(f"{where}: image shape", np.shape(image), f"({observation.size}, {observation.size})")
    target = Target(image, observation, noise, prior)
    seconds = {}
    t0 = time.perf_counter()
    theta = fit.light_and_source_start(target, STARTS[start](network, prior, settings.seed))
    theta_map, _ = fit.maximise(target, theta, first_step=10.0)
    seconds["map"] = time.perf_counter() - t0
    cov = MASS_MATRICES[mass_matrix](target, theta_map, network)
    t0 = time.perf_counter()
    chains = nuts.sample(target, theta_map, cov, settings)
    seconds["nuts"] = time.perf_counter() - t0
    diag = diagnostics.per_parameter(chains.samples, NAMES)
    chi2 = integration.supersampling_chi2(theta_map, observation, noise)
    flag = (diagnostics.failure(diag, chains.divergent, limits)
            or diagnostics.integration_failure(chi2, observation.supersampling, limits))
    return Refined(chains.samples, theta_map, theta, diag, flag, float(chains.divergent.mean()),
                   chains.step_size, chains.leapfrogs, seconds, chi2)
