"""Training with device-side augmentation: the wrapper model, its checkpoints and resumes, and
the "auto" checkpoint policy."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from lensfind.config.train import AugmentConfig
from lensfind.data.augment import LabelTransform, apply_transforms, random_transforms
from lensfind.data.device_augment import packed_inputs
from lensfind.data.sequence import AugmentedSequence
from lensfind.seeds import set_random_seed
from lensfind.train.augmented import DeviceAugmented, for_training, wrap
from lensfind.train.fit import fit_fold, load_checkpoint
from tests.train.test_checkpoint_interval import IMAGES, LABELS, Stop, StopAt

RNG = np.random.default_rng(1)


def _build():
    set_random_seed(3)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.3),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _fit(folder, *, every_s=0.0, callbacks=(), device=True, epochs=4):
    keras.backend.clear_session()
    seq = AugmentedSequence(IMAGES, LABELS, np.arange(40), batch_size=8, seed=1,
                            augment=AugmentConfig(), threads=1, device_augment=device)
    return fit_fold(_build, seq, (IMAGES[40:, ..., None], LABELS[40:]), folder, epochs=epochs,
                    patience=10, batch_size=8, progress=False, tensorboard=False,
                    callbacks=callbacks, checkpoint_every_s=every_s,
                    training_model=lambda m: for_training(m, device=device))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return _fit(tmp_path_factory.mktemp("ref"))


def _same(a, b):
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


def test_fit_returns_the_network_and_checkpoints_the_wrapper(reference, tmp_path):
    assert not isinstance(reference.model, DeviceAugmented)
    assert reference.model.input_shape == (None, 12, 12, 1)
    run = _fit(tmp_path / "run")
    _same(reference, run)  # reproducible
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.keras")
    assert isinstance(saved, DeviceAugmented) and saved.optimizer.iterations.numpy() == 20
    saved.network.load_weights(tmp_path / "run" / "best.weights.h5")  # the network's own
    x = IMAGES[40:, ..., None]
    np.testing.assert_allclose(saved.predict(x, verbose=0), run.model.predict(x, verbose=0),
                               rtol=1e-6)


def test_a_killed_fold_resumes_to_the_uninterrupted_result(reference, tmp_path):
    with pytest.raises(Stop):
        _fit(tmp_path, callbacks=[StopAt(2)])
    resumed = _fit(tmp_path)
    assert resumed.resumed_from == 2
    _same(reference, resumed)


def test_auto_checkpoints_skip_epochs_and_resume_to_the_same_result(reference, tmp_path):
    # tiny epochs are far shorter than 50 writes: only the first epoch is written before the
    # kill at epoch 3, the last epoch always
    with pytest.raises(Stop):
        _fit(tmp_path, every_s="auto", callbacks=[StopAt(3)])
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1
    resumed = _fit(tmp_path, every_s="auto")
    assert resumed.resumed_from == 1
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 4
    _same(reference, resumed)


def test_switching_augment_on_mid_fold_is_refused(tmp_path):
    with pytest.raises(Stop):
        _fit(tmp_path, callbacks=[StopAt(2)])
    with pytest.raises(ValueError, match=r"trained with train.augment_on = 'device', not 'host'"):
        _fit(tmp_path, device=False)


def test_the_loss_sees_the_transformed_labels():
    """Regression through the wrapper: the loss of packed inputs with raw label columns equals
    the network's loss on host-resampled images with host-transformed targets."""
    names = ["theta_e", "e1", "center_y"]
    params = {p: RNG.normal(size=16) for p in ("theta_e", "e1", "e2", "center_x", "center_y")}
    fn = LabelTransform(params, names)
    set_random_seed(1)
    network = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(),
                                keras.layers.Dense(3)])
    network.compile(keras.optimizers.SGD(0.0), "mse")
    model = wrap(network, labels=names)
    t = random_transforms(RNG, 16, AugmentConfig(shear_deg=0.0), allow_shear=False)
    x = IMAGES[:16, ..., None]
    idx = np.arange(16)
    device = model.evaluate(packed_inputs(x, t.packed()), fn.raw(idx), verbose=0,
                            batch_size=16)
    host_x = apply_transforms(x, t)
    host = network.evaluate(host_x, fn(idx, t), verbose=0, batch_size=16)
    assert device == pytest.approx(host, rel=1e-4)
    plain = network.evaluate(host_x, fn.raw(idx)[:, [4, 2, 1]], verbose=0, batch_size=16)
    assert abs(plain - host) > 1e-3 * host  # the labels did change
