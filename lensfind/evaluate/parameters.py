"""Lens parameters on a labelled set: the regression CV's 68 % errors, bias, coverage and chi2.

A regression member of a scores file (``lensfind score`` with a regression run) writes, per
parameter ``t``, ``<member>_<t>`` (the mean), ``<member>_<t>_sigma`` and the covariance's upper
triangle ``<member>_cov_<a>_<b>``. :func:`find_members` recognises them; :func:`predictions`
turns one member's columns into ``mean (N, n)`` and ``cov (N, n, n)`` (the diagonal from the
sigmas when a covariance cell is missing), and the metrics are
:func:`lensfind.evaluate.calibration.evaluate_regression` -- the same code as the CV folds.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from lensfind.sim.params import REGRESSION_TARGETS


def find_members(columns) -> dict[str, tuple[str, ...]]:
    """``{member: parameters}`` of the regression members whose columns are in ``columns``
    (parameters in :data:`REGRESSION_TARGETS` order)."""
    columns = set(columns)
    members: dict[str, list[str]] = {}
    for c in sorted(columns):
        for t in REGRESSION_TARGETS:
            suffix = f"_{t}_sigma"
            if c.endswith(suffix) and c[:-len(suffix)] and c[:-len("_sigma")] in columns:
                members.setdefault(c[:-len(suffix)], []).append(t)
    return {m: tuple(t for t in REGRESSION_TARGETS if t in ts) for m, ts in members.items()}


def predictions(scores: Mapping[str, np.ndarray], member: str,
                names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(mean (N, n), cov (N, n, n))`` of one member's score columns (a mapping of column
    name to ``(N,)`` values)."""
    mean = np.stack([scores[f"{member}_{t}"] for t in names], axis=1)
    sigma = np.stack([scores[f"{member}_{t}_sigma"] for t in names], axis=1)
    n = len(names)
    cov = np.zeros(mean.shape + (n,))
    for i, a in enumerate(names):
        cov[:, i, i] = sigma[:, i] ** 2
        for j in range(i, n):
            b = names[j]    # the run's target order may differ from ``names``
            column = scores.get(f"{member}_cov_{a}_{b}", scores.get(f"{member}_cov_{b}_{a}"))
            if column is not None:
                cov[:, i, j] = cov[:, j, i] = column
    return mean, cov
