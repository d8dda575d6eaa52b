"""``train.lr_schedule``: the learning rate of every epoch, set by a Keras callback in the fit."""
import math

import keras
import numpy as np
import pytest

from lensfind.config.train import LR_SCHEDULES, TrainConfig
from lensfind.train.fit import _schedule
from lensfind.validation import ConfigError


def test_cosine_falls_from_the_rate_to_near_zero_and_constant_stays():
    train = TrainConfig(epochs=4, learning_rate=0.1, lr_schedule="cosine")
    rates = [train.learning_rate_at(e) for e in range(4)]
    assert rates == pytest.approx([0.1, 0.1 * (1 + math.cos(math.pi / 4)) / 2, 0.05,
                                   0.1 * (1 + math.cos(3 * math.pi / 4)) / 2])
    flat = TrainConfig(epochs=4, learning_rate=0.1)
    assert [flat.learning_rate_at(e) for e in range(4)] == [0.1] * 4 and not _schedule(flat)


def test_unknown_schedule_is_refused_with_the_choices():
    with pytest.raises((ConfigError, ValueError)) as err:
        TrainConfig(lr_schedule="step")
    assert "'step'" in str(err.value) and all(name in str(err.value) for name in LR_SCHEDULES)


def test_the_fit_uses_the_scheduled_rate_each_epoch():
    train = TrainConfig(epochs=4, learning_rate=0.1, lr_schedule="cosine")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    x = np.ones((8, 3), np.float32)
    history = model.fit(x, x[:, :1], epochs=4, verbose=0, callbacks=_schedule(train))
    assert history.history["learning_rate"] == pytest.approx(
        [train.learning_rate_at(e) for e in range(4)], rel=1e-6)
