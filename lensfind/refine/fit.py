"""Maximum a posteriori: L-BFGS-B (scipy) on the compiled log-posterior, within the prior box,
and the fast fit of the light and source that completes the network's start."""
from __future__ import annotations

import numpy as np
from keras import ops
from scipy import optimize

from lensfind.refine import engines, forward
from lensfind.refine.forward import LENS_NAMES, NAMES
from lensfind.refine.likelihood import log_likelihood
from lensfind.refine.target import Target
from lensfind.sim import profiles

#: typical size of each parameter's posterior [its unit]: the optimiser's coordinate scale
SCALES = {"theta_e": 0.01, "e1": 0.02, "e2": 0.02, "center_x": 0.01, "center_y": 0.01,
          "g1": 0.02, "g2": 0.02}
for _part in ("source", "light"):
    SCALES.update({f"{_part}_x": 0.01, f"{_part}_y": 0.01, f"{_part}_log_amp": 0.1,
                   f"{_part}_r_sersic": 0.01, f"{_part}_n_sersic": 0.1, f"{_part}_e1": 0.02,
                   f"{_part}_e2": 0.02})
_SCALE = np.array([SCALES[name] for name in NAMES])


def maximise(target: Target, start: np.ndarray, free=None, max_iter: int = 300,
             first_step: float = 1.0) -> tuple:
    """MAP from ``start (P,)``, moving only the parameters ``free`` (names; all by default),
    the first step about ``first_step`` :data:`SCALES` long: ``(theta (P,), log-posterior)``."""
    run = engines.current().value_and_gradient(target.key)
    index = np.array([NAMES.index(n) for n in (NAMES if free is None else free)])
    theta0 = target.prior.clip(np.asarray(start, np.float64))
    scale = _SCALE[index]

    def evaluate(u):
        theta = theta0.copy()
        theta[index] = u * scale
        value, grad = run(np.asarray(theta, np.float32)[None], target.arrays)
        return float(value[0]), grad[0].astype(np.float64)[index] * scale

    # L-BFGS-B's first step goes to u - gradient: dividing the objective by the start's largest
    # gradient / first_step moves it by about first_step scale units (not into a corner)
    value0, grad0 = evaluate(theta0[index] / scale)
    norm = max(float(np.abs(grad0).max()) / first_step, 1.0)

    def objective(u):
        value, grad = evaluate(u)
        if not np.isfinite(value) or not np.all(np.isfinite(grad)):
            return 1e30, np.zeros_like(u)
        return -(value - value0) / norm, -grad / norm

    bounds = list(zip(target.prior.low[index] / scale, target.prior.high[index] / scale))
    res = optimize.minimize(objective, theta0[index] / scale, jac=True, method="L-BFGS-B",
                            bounds=bounds, options={"maxiter": max_iter, "ftol": 0.0})
    theta = theta0.copy()
    theta[index] = res.x * scale
    return theta, value0 - norm * float(res.fun)


def _log_amp(flux: float, r_sersic: float, n_sersic: float) -> float:
    return float(np.log(max(profiles.sersic_amp(max(flux, 1.0), r_sersic, n_sersic), 1e-30)))


#: the source grid of :func:`light_and_source_start`: offsets from the lens centre [Einstein
#: radii] along x and y, half-light radii [arcsec], shares of the image's flux
SOURCE_OFFSETS = np.linspace(-1.0, 1.0, 9)
SOURCE_RADII = (0.05, 0.15, 0.4)
SOURCE_FLUXES = (0.03, 0.1, 0.3)


def light_and_source_start(target: Target, lenses: np.ndarray, keep: int = 4) -> np.ndarray:
    """A full start vector from candidate lens parameters ``lenses`` (``(K, 7)``, LENS_NAMES
    order, the most likely first), each held fixed in turn: the lens light fitted first (at the
    first lens's centre, half the image flux to begin with, the source faint), then the round
    n = 1 source whose position, size and flux on a grid (:data:`SOURCE_OFFSETS` x
    :data:`SOURCE_RADII` x :data:`SOURCE_FLUXES` around every lens, one batched evaluation, the
    light's and source's amplitudes of each solved linearly: :func:`_linear_amplitudes`) fit
    best, then light and source fitted together (the source kept round with n = 1 first) from
    the best source of each of the ``keep`` lenses whose best source fits best, and from the
    best of all with the light's first guess; the best of those."""
    lenses = np.atleast_2d(np.asarray(lenses, np.float64))
    total = float(np.clip(target.image, 0, None).sum())
    p = dict(zip(LENS_NAMES, lenses[0]))
    start = {**p, "light_x": p["center_x"], "light_y": p["center_y"], "light_r_sersic": 0.3,
             "light_n_sersic": 4.0, "light_e1": 0.0, "light_e2": 0.0,
             "light_log_amp": _log_amp(total / 2, 0.3, 4.0), "source_x": p["center_x"],
             "source_y": p["center_y"], "source_r_sersic": 0.1, "source_n_sersic": 1.0,
             "source_e1": 0.0, "source_e2": 0.0,
             "source_log_amp": _log_amp(total / 1e4, 0.1, 1.0)}
    light = [name for name in NAMES if name.startswith("light_")]
    theta, _ = maximise(target, np.array([start[n] for n in NAMES]), light, max_iter=100,
                        first_step=1e6)
    trial = np.concatenate([_source_grid(theta, lens, total) for lens in lenses])
    scored = [_linear_amplitudes(target, trial[i:i + 1024]) for i in range(0, len(trial), 1024)]
    trial = target.prior.clip(np.concatenate([t for t, _ in scored]))
    values = np.concatenate([v for _, v in scored])
    round_source = light + [f"source_{k}" for k in ("x", "y", "r_sersic", "log_amp")]
    free = [name for name in NAMES if name not in LENS_NAMES]
    # the best source of each lens (the global best pairs can all share one wrong lens)
    values = np.nan_to_num(values, nan=-np.inf).reshape(len(lenses), -1)
    rows = np.argmax(values, axis=1) + np.arange(len(lenses)) * values.shape[1]
    starts = [trial[row] for row in rows[np.argsort(-values.max(axis=1))][:keep]]
    # the light fitted alone can swallow a bright source (ring or arcs): also the light's guess
    guess = starts[0].copy()
    guess[[NAMES.index(n) for n in light]] = [start[n] for n in light]
    best = None
    for theta in starts + [guess]:
        fitted, _ = maximise(target, theta, round_source, max_iter=100, first_step=1e6)
        fitted, value = maximise(target, fitted, free, max_iter=100, first_step=1e6)
        if best is None or value > best[1]:
            best = (fitted, value)
    return best[0]


def _source_grid(theta: np.ndarray, lens: np.ndarray, total: float) -> np.ndarray:
    """``theta`` with the lens ``lens`` and each round source of the grid around it:
    ``(len(grid), P)``."""
    p = dict(zip(LENS_NAMES, lens))
    offsets = SOURCE_OFFSETS * p["theta_e"]
    grid = np.array([(p["center_x"] + dx, p["center_y"] + dy, r, _log_amp(share * total, r, 1.0))
                     for dx in offsets for dy in offsets for r in SOURCE_RADII
                     for share in SOURCE_FLUXES])
    trial = np.repeat(theta[None], len(grid), axis=0)
    trial[:, :len(LENS_NAMES)] = lens
    columns = [NAMES.index(f"source_{k}") for k in ("x", "y", "r_sersic", "log_amp")]
    trial[:, columns] = grid
    return trial


def _linear_amplitudes(target: Target, trial: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``trial (K, P)`` with the light's and the source's amplitudes rescaled to fit the image
    best, and the log-likelihood of each ``(K,)``. The model is linear in both amplitudes: the
    candidates are the amplitudes as given, the weighted least-squares pair (weights from the
    variance of the data, then twice of the model; where both are > 0), and each part alone
    (the other at 1e-3); each is scored by :func:`~lensfind.refine.likelihood.log_likelihood`
    and the best kept."""
    params = ops.convert_to_tensor(np.asarray(trial, np.float32))
    light, source = (ops.convert_to_numpy(part).astype(np.float64)
                     for part in forward.render_parts(params, target.observation))
    data = target.image.astype(np.float64)
    weight, base = target.noise.variance_terms(target.image.shape)

    def solve(model):
        w = 1.0 / target.noise.variance(model)
        ll, ss, ls = ((w * a * b).sum((1, 2)) for a, b in ((light, light), (source, source),
                                                           (light, source)))
        ld, sd = (w * light * data).sum((1, 2)), (w * source * data).sum((1, 2))
        det = np.maximum(ll * ss - ls * ls, 1e-30 * ll * ss)
        return (np.stack([(ss * ld - ls * sd) / det, (ll * sd - ls * ld) / det], 1),
                np.stack([ld / ll, np.full_like(ll, 1e-3)], 1),
                np.stack([np.full_like(ss, 1e-3), sd / ss], 1))

    def model(scales):
        return scales[:, 0, None, None] * light + scales[:, 1, None, None] * source

    joint, light_only, source_only = solve(np.broadcast_to(data, light.shape))
    for _ in range(2):
        joint = solve(model(np.maximum(joint, 1e-3)))[0]
    options = np.stack([np.ones_like(joint), joint, light_only, source_only], 1)
    scores = np.stack([np.where((o > 0).all(1), ops.convert_to_numpy(log_likelihood(
        model(np.maximum(o, 1e-30)).astype(np.float32), target.image, weight, base)), -np.inf)
        for o in options.transpose(1, 0, 2)], 1)
    best = np.argmax(np.nan_to_num(scores, nan=-np.inf), 1)
    out = np.array(trial, np.float64)
    for k, column in enumerate(("light_log_amp", "source_log_amp")):
        out[:, NAMES.index(column)] += np.log(options[np.arange(len(trial)), best, k])
    return out, scores[np.arange(len(trial)), best]
