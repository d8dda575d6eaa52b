"""Convergence diagnostics per parameter with ArviZ (rank-normalised R-hat, bulk and tail ESS),
the pixel-integration check (:mod:`lensfind.refine.integration`), and the first that fails."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np

with warnings.catch_warnings():       # ArviZ 0.2x announces its refactor on import
    warnings.simplefilter("ignore", FutureWarning)
    import arviz


@dataclasses.dataclass(frozen=True)
class Limits:
    """Convergence requires R-hat <= ``rhat_max``, bulk and tail ESS >= ``ess_min`` for every
    parameter and at most ``divergent_max`` of the draws divergent; the model's pixel integration
    must move by at most ``integration_chi2_max`` when the sub-pixels double (inf: not checked,
    for images drawn at the model's own supersampling)."""

    rhat_max: float = 1.05
    ess_min: float = 50.0
    divergent_max: float = 0.05
    integration_chi2_max: float = 1.0


def per_parameter(samples: np.ndarray, names) -> dict[str, dict[str, float]]:
    """name -> {rhat, ess_bulk, ess_tail} of ``samples (chains, draws, P)``."""
    out = {}
    for i, name in enumerate(names):
        x = samples[:, :, i]
        out[name] = {"rhat": float(arviz.rhat(x)),
                     "ess_bulk": float(arviz.ess(x, method="bulk")),
                     "ess_tail": float(arviz.ess(x, method="tail"))}
    return out


def failure(diagnostics: dict[str, dict[str, float]], divergent: np.ndarray,
            limits: Limits) -> str | None:
    """The first diagnostic outside ``limits``, as text (None when all pass)."""
    fraction = float(np.mean(divergent))
    if fraction > limits.divergent_max:
        return f"divergent draws {fraction:.3f} > {limits.divergent_max}"
    for name, d in diagnostics.items():
        if not d["rhat"] <= limits.rhat_max:
            return f"rhat({name}) = {d['rhat']:.3f} > {limits.rhat_max}"
        for kind in ("ess_bulk", "ess_tail"):
            if not d[kind] >= limits.ess_min:
                return f"{kind}({name}) = {d[kind]:.1f} < {limits.ess_min:g}"
    return None


def integration_failure(chi2: float, supersampling: int, limits: Limits) -> str | None:
    """The pixel-integration check (:func:`lensfind.refine.integration.supersampling_chi2` at
    the MAP) as text when it fails, else None."""
    if chi2 <= limits.integration_chi2_max:
        return None
    return (f"supersampling {supersampling} too coarse: the MAP model moves by chi2 = "
            f"{chi2:.1f} > {limits.integration_chi2_max:g} at {2 * supersampling}")
