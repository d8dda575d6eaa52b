"""Is the pixel integration fine enough? The model at the MAP with ``s`` and with ``2 s``
sub-pixels per pixel side, compared in units of the noise.

A telescope integrates the sky over each pixel exactly; the forward model averages
``s x s`` sub-pixels. Where that average is still far from the integral (a compact source or a
cuspy Sersic centre on coarse pixels) the posterior shifts by several sigma without any sampler
diagnostic noticing (the demo's 0.05" lenses at ``s = 2``: chi2 38 against ``s = 12``, the mass
centre 3 sigma off its truth).
"""
from __future__ import annotations

import dataclasses

import numpy as np
from keras import ops

from lensfind.refine.forward import Observation, render
from lensfind.refine.likelihood import NoiseModel


def supersampling_chi2(theta: np.ndarray, observation: Observation, noise: NoiseModel) -> float:
    """``sum (model_s - model_2s)^2 / variance`` for ``theta (P,)``: how far doubling the
    sub-pixels moves the model, in chi2 (variance of the finer model, the noise model's)."""
    params = ops.convert_to_tensor(np.asarray(theta, np.float32)[None])
    coarse, fine = (ops.convert_to_numpy(render(params, dataclasses.replace(
        observation, supersampling=s)))[0].astype(np.float64)
        for s in (observation.supersampling, 2 * observation.supersampling))
    return float(np.sum((coarse - fine) ** 2 / noise.variance(fine)))
