"""The start search: amplitudes solved linearly, and a lens whose source it used to miss."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.refine import fit, forward, simulated
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.refine.target import Target
from lensfind.sim.simulate import simulate

# benchmarks/bench_refine.py's lenses
CONFIG = simulated.clean_config(size=32, pixel_scale=0.1, n_lenses=120,
                                lens={"theta_e": [0.5, 1.2]})


@pytest.fixture(scope="module")
def lenses():
    return simulate(CONFIG, seed=2)


def _target(batch, row, image=None):
    prior = BoxPrior.from_bounds(default_bounds(CONFIG.field_of_view))
    return Target(batch.images[row] if image is None else image,
                  simulated.observation(batch.params, row, CONFIG),
                  simulated.noise_model(batch.params, row, CONFIG), prior)


def test_linear_amplitudes_recover_the_light_and_source_of_a_noiseless_image(lenses):
    truth = simulated.truth(lenses.params, 0, CONFIG)
    target = _target(lenses, 0)
    noiseless = np.asarray(forward.render(truth[None].astype(np.float32), target.observation))[0]
    target = _target(lenses, 0, noiseless)
    light, source = (forward.NAMES.index(n) for n in ("light_log_amp", "source_log_amp"))
    wrong = np.repeat(truth[None], 3, axis=0)
    wrong[:, light] += np.log([3.0, 0.2, 1.0])
    wrong[:, source] += np.log([0.1, 5.0, 1.0])
    solved, values = fit._linear_amplitudes(target, wrong)
    assert np.abs(solved[:, [light, source]] - truth[[light, source]]).max() < 2e-3
    assert np.allclose(values, np.asarray(target.log_prob(solved)), rtol=1e-5)
    assert np.array_equal(np.delete(solved, [light, source], 1),
                          np.delete(wrong, [light, source], 1))


@pytest.mark.slow   # ~15 s: the light fit, a grid of 729 sources, three light + source fits
def test_the_start_search_finds_the_source_of_lens_9(lenses):
    """Lens 9 of the benchmark's seed-2 set: with the grid's amplitudes as drawn (before they
    were solved), the search from the exact lens ended 770 log-units below the truth, in a
    compact bright blob off the arcs, and NUTS's chains in four modes."""
    truth = simulated.truth(lenses.params, 9, CONFIG)
    target = _target(lenses, 9)
    theta = fit.light_and_source_start(target, truth[None, :len(forward.LENS_NAMES)])
    values = np.asarray(target.log_prob(np.stack([theta, truth])))
    assert values[0] > values[1] - 30, values
