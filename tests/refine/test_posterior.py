"""Refining one simulated lens: the posterior holds the truth, diagnostics come from ArviZ, and
bad inputs are refused before any work."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.refine import diagnostics, forward, nuts, posterior, simulated
from lensfind.refine.likelihood import NoiseModel
from lensfind.refine.prior import BoxPrior, default_bounds
from lensfind.sim.config import SimConfig
from lensfind.sim.simulate import simulate

CONFIG = SimConfig(size=32, pixel_scale=0.08, supersampling=2, n_lenses=1, n_nonlenses=0,
                   field_galaxies=0.0).replace(
    source={"kind": "sersic"}, lens_light={"kind": "sersic"},
    artifacts={"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0})
NETWORK_SIGMA = np.array([0.05, 0.05, 0.05, 0.02, 0.02])
SETTINGS = nuts.NutsSettings(chains=2, warmup=100, draws=100, seed=1)


@pytest.fixture(scope="module")
def lens():
    batch = simulate(CONFIG, seed=5)
    truth = simulated.truth(batch.params, 0, CONFIG)
    index = [forward.NAMES.index(n) for n in forward.LENS_NAMES[:5]]
    # a stand-in for the regression network: its mean one sigma-draw off the truth
    mean = truth[index] + NETWORK_SIGMA * np.random.default_rng(0).standard_normal(5)
    network = posterior.NetworkPosterior(forward.LENS_NAMES[:5], mean, np.diag(NETWORK_SIGMA ** 2))
    return (batch.images[0], simulated.observation(batch.params, 0, CONFIG),
            simulated.noise_model(batch.params, 0, CONFIG), network, truth)


def _prior():
    return BoxPrior.from_bounds(default_bounds(CONFIG.field_of_view))


@pytest.fixture(scope="module")
def refined(lens):
    image, obs, noise, network, _ = lens
    return posterior.refine(image, obs, noise, network, _prior(), settings=SETTINGS)


@pytest.mark.slow   # ~50 s on 2 loaded cores: fast fit, MAP and 2 x 200 NUTS iterations
def test_posterior_holds_the_truth_and_is_narrower_than_the_network(lens, refined):
    truth, network = lens[4], lens[3]
    assert refined.samples.shape == (2, 100, len(forward.NAMES))
    flat = refined.samples.reshape(-1, len(forward.NAMES))
    mean, sd = flat.mean(axis=0), flat.std(axis=0)
    for i, name in enumerate(forward.LENS_NAMES):
        assert abs(mean[i] - truth[i]) < 4 * sd[i], name
    index = [forward.NAMES.index(n) for n in network.names]
    assert np.all(sd[index] < np.sqrt(np.diag(network.cov)))


@pytest.mark.slow
def test_diagnostics_are_arviz_rhat_and_ess_per_parameter(refined):
    import arviz
    assert set(refined.diagnostics) == set(forward.NAMES)
    i = forward.NAMES.index("theta_e")
    assert refined.diagnostics["theta_e"]["rhat"] == pytest.approx(
        float(arviz.rhat(refined.samples[:, :, i])))
    assert refined.diagnostics["theta_e"]["ess_bulk"] > 20
    assert diagnostics.failure(refined.diagnostics, np.zeros((2, 5), bool),
                               diagnostics.Limits(rhat_max=1.0, ess_min=0.0)).startswith("rhat(")
    assert diagnostics.failure(refined.diagnostics, np.ones((2, 5), bool),
                               diagnostics.Limits()).startswith("divergent draws 1.000")


def test_refusals_name_field_and_value(lens):
    image, obs, noise, network, _ = lens
    wide = _prior()
    with pytest.raises(ValueError, match=r"row 3: noise units.*'adu'"):
        posterior.refine(image, obs, NoiseModel(sky=1.0, units="adu"), network, wide,
                         where="row 3", image_units="adu")
    with pytest.raises(ValueError, match=r"image units \(BUNIT\).*'electron/s'"):
        posterior.refine(image, obs, noise, network, wide, image_units="electron/s")
    bounds = default_bounds(CONFIG.field_of_view)
    bounds["theta_e"] = (0.01, 0.02)
    with pytest.raises(ValueError, match=r"network mean of theta_e"):
        posterior.refine(image, obs, noise, network, BoxPrior.from_bounds(bounds))


def test_lens_starts_are_the_network_mean_then_draws_from_its_posterior():
    names = forward.LENS_NAMES[:5]
    mean = np.array([1.0, 0.1, -0.1, 0.02, -0.03])
    cov = np.diag([0.05, 0.04, 0.03, 0.02, 0.01]) ** 2
    starts = posterior.NetworkPosterior(names, mean, cov).lens_starts(4001, seed=3)
    assert starts.shape == (4001, len(forward.LENS_NAMES))
    np.testing.assert_array_equal(starts[0, :5], mean)
    assert np.all(starts[:, 5:] == 0)                      # the shear: not given by the network
    np.testing.assert_allclose(starts[1:, :5].mean(axis=0), mean, atol=4 * 0.05 / np.sqrt(4000))
    np.testing.assert_allclose(starts[1:, :5].std(axis=0), np.sqrt(np.diag(cov)), rtol=0.05)
