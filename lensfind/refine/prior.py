"""Uniform box prior over the forward model's parameters, checked against the network's start."""
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
