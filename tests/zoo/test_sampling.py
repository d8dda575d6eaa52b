"""The one MC-dropout sampler: seeded by (seed, key), backbone-once split, seed-state round trip."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lensfind.seeds import set_random_seed
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.model import build_model
from lensfind.zoo.sampling import DropoutSampler, predict_gaussian, seed_states, set_seed_states


def _config(head, **kw):
    kw = {"backbone": "lensflow", "regime": "random", "weights": "none", "input_size": 48,
          "dense_units": 8, "pool_dropout": 0.2, "dense_dropout": 0.3, "head": head, **kw}
    return ModelConfig(**kw)


def _images(n=6, size=48):
    rng = np.random.default_rng(0)
    return (100 + rng.normal(0, 5, (n, size, size, 1))).astype("float32")


@pytest.fixture(scope="module")
def classifier():
    set_random_seed(3)
    return build_model(config=_config("classifier"), input_shape=(48, 48, 1))


def test_masks_depend_on_seed_and_key_only(classifier):
    x = _images(5)
    with DropoutSampler(classifier, passes=4, batch_size=4, seed=11) as sampler:
        first = sampler.sample(x, key=(0, 1))
        other = sampler.sample(x, key=(0, 2))
        again = sampler.sample(x, key=(0, 1))      # after another call: the same masks
    assert first.shape == (4, 5, 2)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)
    assert np.ptp(first, axis=0).max() > 0         # passes differ: dropout is active
    with DropoutSampler(classifier, passes=4, batch_size=4, seed=11) as fresh:
        np.testing.assert_array_equal(fresh.sample(x, key=(0, 1)), first)


def test_backbone_once_equals_full_passes(classifier):
    x = _images(7)
    with DropoutSampler(classifier, passes=3, batch_size=4, seed=2) as split:
        a = split.sample(x, key=(5,))
    with DropoutSampler(classifier, passes=3, batch_size=4, seed=2,
                        split_backbone=False) as full:
        b = full.sample(x, key=(5,))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_one_pass_is_the_deterministic_model_and_flags_are_restored(classifier):
    x = _images(6)
    with DropoutSampler(classifier, passes=1, batch_size=4) as sampler:
        out = sampler.sample(x)
    assert out.shape == (1, 6, 2)
    np.testing.assert_allclose(out[0], classifier.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    with DropoutSampler(classifier, passes=3) as sampler:
        assert all(m.mc for m in sampler.layers)
    assert not any(m.mc for m in sampler.layers)
    with pytest.raises(ValueError, match="passes = 0 is invalid"):
        DropoutSampler(classifier, passes=0)
    with pytest.raises(ValueError, match=r"images of shape \(0, 48, 48\) are invalid"):
        DropoutSampler(classifier).sample(np.zeros((0, 48, 48)))


def test_mc_dropout_prediction_is_stochastic_and_restores_the_model():
    set_random_seed(1)
    model = build_model(config=_config("mvn_full", dense_units=0), input_shape=(48, 48, 1))
    x = _images(8)
    pred = predict_gaussian(model, x, passes=6, seed=1)
    assert pred.samples.shape == (6, 8, 6)
    assert np.all(np.einsum("nii->ni", pred.epistemic) > 0)
    np.testing.assert_allclose(pred.covariance, pred.aleatoric + pred.epistemic)
    np.linalg.cholesky(pred.covariance)
    np.testing.assert_array_equal(predict_gaussian(model, x, passes=6, seed=1).mean, pred.mean)
    # dropout is off again for plain predictions: deterministic
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    one = predict_gaussian(model, x, passes=1)
    assert np.all(one.epistemic == 0)


def _tiny_model():
    set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    m.compile("adam", "mse")
    return m


def test_seed_states_roundtrip_and_mismatch():
    x = np.ones((64, 4), "float32")
    m = _tiny_model()
    states = seed_states(m)
    assert len(states) == 1
    m(x, training=True)  # draws a dropout mask: the state moves on
    assert seed_states(m) != states
    m2 = _tiny_model()   # same weights, the initial state
    set_seed_states(m2, seed_states(m))
    assert seed_states(m2) == seed_states(m)
    # restored state -> the same next dropout mask (what resuming a fold relies on)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(m(x, training=True)),
                                  keras.ops.convert_to_numpy(m2(x, training=True)))
    with pytest.raises(ValueError, match="random-generator states"):
        set_seed_states(m2, states * 2)
