"""``train.checkpoint_every_s``: fewer resume checkpoints, same results."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.data.sequence import AugmentedSequence
from lensfind.seeds import set_random_seed
from lensfind.train.fit import fit_fold
from lensfind.validation import ConfigError

RNG = np.random.default_rng(0)
IMAGES = RNG.normal(size=(48, 12, 12)).astype("float32")
LABELS = (IMAGES[:, 4:8, 4:8].mean(axis=(1, 2)) > 0).astype("int32")


def _build():
    set_random_seed(3)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    return model


class Stop(Exception):
    pass


class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.at = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise Stop


def _fit(folder, every_s, *, callbacks=(), mode="max"):
    keras.backend.clear_session()
    seq = AugmentedSequence(IMAGES, LABELS, np.arange(40), batch_size=8, seed=1, augment=None,
                            threads=1)
    # mode "max" on the training loss (which falls): the first epoch stays the best, so the
    # final weights come from best weights kept in memory while later epochs were not written
    return fit_fold(_build, seq, (IMAGES[40:, ..., None], LABELS[40:]), folder, epochs=4,
                    patience=10, monitor="loss", mode=mode, batch_size=8, progress=False,
                    tensorboard=False, callbacks=callbacks, checkpoint_every_s=every_s)


def test_option_is_validated():
    assert experiment_from_dict({"train": {"checkpoint_every_s": 60}}).train \
        .checkpoint_every_s == 60
    with pytest.raises(ConfigError, match=r"train.checkpoint_every_s = -1 is invalid"):
        experiment_from_dict({"train": {"checkpoint_every_s": -1}})
    assert experiment_from_dict({}).train.checkpoint_every_s == "auto"
    with pytest.raises(ConfigError, match=r"checkpoint_every_s = 'often' is invalid: expected "
                       r"'auto' or seconds"):
        experiment_from_dict({"train": {"checkpoint_every_s": "often"}})
    with pytest.raises(ConfigError, match=r"train.augment_on = 'gpu' is invalid"):
        experiment_from_dict({"train": {"augment_on": "gpu"}})
    with pytest.raises(ConfigError, match=r"train.data_on_device = 'yes' is invalid"):
        experiment_from_dict({"train": {"data_on_device": "yes"}})


def test_sparse_checkpoints_give_the_every_epoch_result(tmp_path):
    every = _fit(tmp_path / "every", 0.0)
    sparse = _fit(tmp_path / "sparse", 1e9)
    assert every.best_epoch == sparse.best_epoch == 0
    for a, b in zip(every.model.get_weights(), sparse.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    state = json.loads((tmp_path / "sparse" / "state.json").read_text())
    assert state["epoch"] == 4 and state["stopped"] and len(state["history"]) == 4
    assert len((tmp_path / "sparse" / "history.csv").read_text().strip().splitlines()) == 5


def test_a_fold_stopped_between_checkpoints_resumes_to_the_same_result(tmp_path):
    reference = _fit(tmp_path / "ref", 0.0, mode="min")
    with pytest.raises(Stop):
        _fit(tmp_path / "cut", 1e9, callbacks=[StopAt(2)], mode="min")
    assert not (tmp_path / "cut" / "state.json").exists()  # nothing written yet
    resumed = _fit(tmp_path / "cut", 1e9, mode="min")
    assert resumed.resumed_from == 0 and len(resumed.history) == 4
    for a, b in zip(reference.model.get_weights(), resumed.model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert [h["loss"] for h in reference.history] == pytest.approx(
        [h["loss"] for h in resumed.history], rel=1e-6)
