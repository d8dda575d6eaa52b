"""Regression heads: registry entries, whitening stored with the model, loss, MC dropout."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from lensfind import probabilistic as P
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.heads import HEADS
from lensfind.zoo.model import build_model, compile_model
from lensfind.zoo.regression_heads import (GaussianLoss, TargetScaling, regression_loss,
                                           set_target_scaling, target_scaling)
from lensfind.config.train import TrainConfig

TARGETS = ("theta_e", "e1", "e2", "center_x", "center_y", "magnification")


def _config(head, **kw):
    kw = {"backbone": "lensflow", "regime": "random", "weights": "none", "input_size": 48,
          "dense_units": 0, "pool_dropout": 0.2, "head": head, **kw}
    return ModelConfig(**kw)


def _images(n=6, size=48):
    rng = np.random.default_rng(0)
    return (100 + rng.normal(0, 5, (n, size, size, 1))).astype("float32")


@pytest.mark.parametrize("head", P.REGRESSION_HEADS)
def test_registry_entries_build_and_round_trip(head, tmp_path):
    spec = HEADS[head]
    assert spec.needs_targets and spec.n_outputs(6) == P.n_outputs(head, 6)
    model = build_model(config=_config(head), input_shape=(48, 48, 1))
    assert model.output.shape[-1] == P.n_outputs(head, 6)
    mean, std = np.linspace(0.5, 3, 6), np.linspace(0.1, 2, 6)
    set_target_scaling(model, mean, std)
    compile_model(model, config=_config(head), train=TrainConfig(), n_targets=6)
    x = _images()
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True, compile=False)
    names, m2, s2 = target_scaling(loaded)
    assert names == TARGETS
    np.testing.assert_allclose(m2, mean, rtol=1e-6)
    np.testing.assert_allclose(s2, std, rtol=1e-6)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-5, atol=1e-5)
    # un-whitened output: the mean part sits around the stored training mean
    assert np.all(np.abs(before[:, :6] - mean) < 5 * std)


def test_loss_config_round_trip_and_mse_scale():
    loss = GaussianLoss("mse", 2, scale=[0.5, 2.0])
    again = GaussianLoss.from_config(loss.get_config())
    y = np.array([[1.0, 1.0]], "float32")
    pred = np.array([[0.0, 0.0]], "float32")
    want = 0.5 * ((1 / 0.5) ** 2 + (1 / 2.0) ** 2)
    assert float(loss(y, pred)) == pytest.approx(want, rel=1e-6)
    assert float(again(y, pred)) == pytest.approx(want, rel=1e-6)
    layer = TargetScaling.from_config(TargetScaling("mvn_diag", ["a", "b"]).get_config())
    assert layer.names == ("a", "b") and layer.head == "mvn_diag"


def test_regression_loss_reads_the_model_scale():
    model = build_model(config=_config("mse"), input_shape=(48, 48, 1))
    set_target_scaling(model, np.zeros(6), np.arange(1, 7))
    assert regression_loss(model).scale == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    with pytest.raises(ValueError, match="std > 0"):
        set_target_scaling(model, np.zeros(6), np.zeros(6))
    with pytest.raises(ValueError, match="for 6 targets"):
        set_target_scaling(model, np.zeros(3), np.ones(3))


def test_head_target_count_mismatch_is_refused():
    from lensfind.tasks.regress import check_model_targets

    model = build_model(config=_config("mvn_full"), input_shape=(48, 48, 1), n_targets=3)
    assert model.output.shape[-1] == P.n_outputs("mvn_full", 3)
    with pytest.raises(ValueError, match=r"model head predicts \['y0', 'y1', 'y2'\] \(3 targets"):
        check_model_targets(model, TARGETS)
    with pytest.raises(ValueError, match="needs 27 outputs.*received 9"):
        P.mc_moments(np.zeros((2, 4, 9)), head="mvn_full", n=6)
    with pytest.raises(ValueError, match="no TargetScaling layer"):
        target_scaling(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
