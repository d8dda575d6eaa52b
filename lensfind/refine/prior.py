"""Uniform box prior over the forward model's parameters, checked against the network's start,
and its map to the real line that NUTS samples on.

Unconstrained coordinates: ``theta = low + (high - low) sigmoid(u)``. The box prior's density in
``u`` is ``prod (high - low) sigmoid(u) sigmoid(-u)``, so the posterior is the same and the
sampler meets no walls at the bounds (Stan's and PyMC's interval transform)."""
from __future__ import annotations

import dataclasses

import numpy as np

from lensfind.refine.forward import NAMES
from lensfind.validation import fail


def default_bounds(field_of_view: float) -> dict[str, tuple[float, float]]:
    """Wide bounds for a cutout ``field_of_view`` arcsec across: name -> (low, high). Sersic
    radii [arcsec] reach the whole field: a lens galaxy's light can extend past a tight crop."""
    half = field_of_view / 2
    shape = (-0.8, 0.8)
    bounds = {"theta_e": (0.02, field_of_view), "e1": shape, "e2": shape,
              "center_x": (-half, half), "center_y": (-half, half), "g1": (-0.3, 0.3),
              "g2": (-0.3, 0.3)}
    for part in ("source", "light"):
        bounds.update({f"{part}_x": (-half, half), f"{part}_y": (-half, half),
                       f"{part}_log_amp": (-10.0, 30.0),
                       f"{part}_r_sersic": (0.01, field_of_view), f"{part}_n_sersic": (0.3, 8.0),
                       f"{part}_e1": shape, f"{part}_e2": shape})
    return bounds


@dataclasses.dataclass(frozen=True)
class BoxPrior:
    """Independent uniform priors ``low <= theta <= high`` (arrays ``(P,)`` in NAMES order)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def from_bounds(cls, bounds: dict[str, tuple[float, float]]) -> "BoxPrior":
        missing = [name for name in NAMES if name not in bounds]
        if missing:
            fail("prior bounds", sorted(bounds), f"bounds for every parameter (missing {missing})")
        low = np.array([bounds[name][0] for name in NAMES], np.float64)
        high = np.array([bounds[name][1] for name in NAMES], np.float64)
        bad = [name for name, lo, hi in zip(NAMES, low, high) if not lo < hi]
        if bad:
            fail(f"prior bounds of {bad[0]}", bounds[bad[0]], "low < high")
        return cls(low, high)

    def check_contains(self, names, values, where: str) -> None:
        """Refuse a prior that excludes the network's mean ``values`` of ``names``."""
        for name, value in zip(names, values):
            i = NAMES.index(name)
            if not self.low[i] <= value <= self.high[i]:
                fail(f"{where}: network mean of {name}", float(value),
                     f"inside the prior range [{self.low[i]:g}, {self.high[i]:g}]")

    def clip(self, theta: np.ndarray) -> np.ndarray:
        return np.clip(theta, self.low, self.high)

    def clip_lens(self, lens: np.ndarray) -> np.ndarray:
        """Lens parameters ``(..., 7)`` (the first columns of NAMES) clipped into the box."""
        k = np.shape(lens)[-1]
        return np.clip(lens, self.low[:k], self.high[:k])

    def to_unconstrained(self, theta: np.ndarray, margin: float = 1e-4) -> np.ndarray:
        """``u`` of ``theta`` (``(..., P)``), moved at least ``margin`` of the box's width inside
        it first (a bound itself is at infinity)."""
        width = self.high - self.low
        p = np.clip((np.asarray(theta) - self.low) / width, margin, 1 - margin)
        return np.log(p) - np.log1p(-p)

    def from_unconstrained(self, u: np.ndarray) -> np.ndarray:
        """``theta`` of ``u`` (``(..., P)``)."""
        return self.low + (self.high - self.low) / (1 + np.exp(-np.asarray(u)))

    def jacobian(self, u: np.ndarray) -> np.ndarray:
        """``d theta / d u`` per parameter at ``u (P,)`` (the map is diagonal)."""
        s = 1 / (1 + np.exp(-np.asarray(u)))
        return (self.high - self.low) * s * (1 - s)
