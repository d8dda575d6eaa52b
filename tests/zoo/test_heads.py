"""The head registry: its names are the config's, and the K-way softmax head has K outputs."""
from __future__ import annotations

import numpy as np
import pytest

from lensfind.zoo.config import HEAD_KINDS, ModelConfig
from lensfind.zoo.heads import HEADS
from lensfind.zoo.model import build_model, compile_model
from lensfind.config.train import TrainConfig


def test_registry_names_are_the_config_names():
    assert tuple(HEADS) == HEAD_KINDS


@pytest.mark.parametrize("k", [3, 5])
def test_softmax_head_has_one_probability_per_class(k):
    config = ModelConfig(backbone="lensflow", regime="random", weights="none", input_size=40,
                         dense_units=0, head="softmax")
    model = compile_model(build_model(config=config, input_shape=(40, 40, 1), n_targets=k),
                          config=config, train=TrainConfig(), n_targets=k)
    p = model.predict(np.random.default_rng(0).normal(size=(4, 40, 40, 1)).astype("float32"),
                      verbose=0)
    assert p.shape == (4, k) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    history = model.fit(np.zeros((8, 40, 40, 1), "float32"), np.arange(8) % k, epochs=1,
                        verbose=0)
    assert np.isfinite(history.history["loss"][0]) and "accuracy" in history.history
