"""build_model / compile_model: regimes, weights, refusals, save and load."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import keras

from lensfind.config.train import OPTIMIZERS, TrainConfig
from lensfind.validation import ConfigError
from lensfind.zoo.backbones import count_params
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.heads import HEADS
from lensfind.zoo.model import (BACKBONE_LAYER, build_model, compile_model, load_model,
                                resolve_input_size)

TRAIN = TrainConfig(learning_rate=1e-3)


def _size(weights) -> int:
    return sum(int(np.prod(w.shape)) for w in weights)


def _bn(layers):
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def _labels(n):
    return (np.arange(n) % 2).astype("int8")


# ---------------------------------------------------------------- regimes (thesis Table 5-1)

@pytest.mark.parametrize("backbone,size", [("resnet50", 32), ("alexnet_bn", 67)])
def test_trainable_parameters_per_regime(backbone, size):
    counts = {}
    for regime in ("frozen", "finetune", "random"):
        config = ModelConfig(backbone=backbone, regime=regime, weights="none", input_size=size)
        model = build_model(config=config)
        body = model.get_layer(BACKBONE_LAYER)
        body_layers = list(body._flatten_layers(include_self=False))
        body_all = _size(body.weights)
        body_bn_moving = _size([w for layer in _bn(body_layers)
                                for w in (layer.moving_mean, layer.moving_variance)])
        body_bn_affine = _size([w for layer in _bn(body_layers) for w in (layer.gamma, layer.beta)])
        outer = [layer for layer in model.layers if layer is not body]
        outer_trainable = _size([w for layer in outer for w in layer.trainable_weights])
        assert outer_trainable > 0
        expected = {
            "frozen": outer_trainable,
            "finetune": outer_trainable + body_all - body_bn_moving - body_bn_affine,
            "random": outer_trainable + body_all - body_bn_moving,
        }[regime]
        total, trainable = count_params(model)
        assert trainable == expected, regime
        counts[regime] = trainable
        if regime == "finetune":
            assert not any(layer.trainable for layer in _bn(body_layers))
            assert all(layer.trainable for layer in body_layers
                       if not isinstance(layer, keras.layers.BatchNormalization))
    assert counts["frozen"] < counts["finetune"] < counts["random"]


def _train_one_step(model, config, cutouts):
    compile_model(model, config=config, train=TRAIN)
    model.fit(cutouts, _labels(len(cutouts)), batch_size=len(cutouts), epochs=1, verbose=0)


def _snapshot(layer):
    return [keras.ops.convert_to_numpy(w).copy() for w in layer.weights]


def _changed(before, layer):
    return [not np.array_equal(a, keras.ops.convert_to_numpy(w))
            for a, w in zip(before, layer.weights)]


@pytest.mark.parametrize("regime", ["frozen", "finetune"])
def test_regimes_keep_what_they_promise_during_training(regime, cutouts):
    config = ModelConfig(backbone="alexnet_bn", regime=regime, weights="none")
    model = build_model(config=config)
    body = model.get_layer(BACKBONE_LAYER)
    conv, bn = body.get_layer("conv2"), body.get_layer("conv2_bn")
    head = model.get_layer("head_dense")
    before = {layer.name: _snapshot(layer) for layer in (conv, bn, head)}
    _train_one_step(model, config, cutouts)
    assert all(_changed(before["head_dense"], head))
    assert not any(_changed(before["conv2_bn"], bn))  # statistics and scale fixed in both
    assert all(_changed(before["conv2"], conv)) == (regime == "finetune")


def test_random_regime_ignores_weights_and_trains_batch_norm(cutouts):
    config = ModelConfig(backbone="alexnet_bn", regime="random", weights="/no/such/file.h5")
    model = build_model(config=config)
    bn = model.get_layer(BACKBONE_LAYER).get_layer("conv2_bn")
    before = _snapshot(bn)
    _train_one_step(model, config, cutouts)
    assert all(_changed(before, bn))


def test_frozen_without_weights_warns():
    config = ModelConfig(backbone="lensflow", regime="frozen", weights="none")
    with pytest.warns(UserWarning, match="random"):
        build_model(config=config)


# ------------------------------------------------------------------------------- weights

def test_local_weights_file_is_loaded(tmp_path, cutouts):
    # an offline cluster: weights saved on another machine from the plain Keras application
    source = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                               input_shape=(32, 32, 3))
    path = tmp_path / "efficientnetb0_notop.weights.h5"
    source.save_weights(path)
    config = ModelConfig(backbone="efficientnet_b0", weights=str(path), input_size=32)
    model = build_model(config=config)
    loaded = model.get_layer(BACKBONE_LAYER).weights
    assert len(loaded) == len(source.weights)
    for want, got in zip(source.weights, loaded):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got),
                                      keras.ops.convert_to_numpy(want))
    fresh = build_model(config=dataclasses.replace(config, weights="none"))
    assert not all(np.array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
                   for a, b in zip(fresh.get_layer(BACKBONE_LAYER).weights, loaded))


def test_baseline_weights_file_round_trip(tmp_path):
    first = build_model(config=ModelConfig(backbone="lensflow", regime="random", weights="none"))
    path = tmp_path / "lensflow.weights.h5"
    first.get_layer(BACKBONE_LAYER).save_weights(path)
    second = build_model(config=ModelConfig(backbone="lensflow", regime="finetune",
                                            weights=str(path)))
    for a, b in zip(first.get_layer(BACKBONE_LAYER).weights,
                    second.get_layer(BACKBONE_LAYER).weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_mismatched_weights_file_is_refused(tmp_path):
    model = build_model(config=ModelConfig(backbone="lensflow", regime="random", weights="none"))
    path = tmp_path / "lensflow.weights.h5"
    model.get_layer(BACKBONE_LAYER).save_weights(path)
    config = ModelConfig(backbone="efficientnet_b0", weights=str(path), input_size=32)
    with pytest.raises(ConfigError, match=r"model.weights = .*lensflow.weights.h5.* expected "
                                          r"weights of backbone 'efficientnet_b0'"):
        build_model(config=config)


@pytest.mark.parametrize("weights,match", [
    ("/no/such/weights.h5", "no such file"),
    ("imagenet", "'none' or a weights file: backbone 'lensflow' is trained from scratch"),
])
def test_unusable_weights_are_refused(weights, match):
    with pytest.raises(ConfigError, match=match):
        build_model(config=ModelConfig(backbone="lensflow" if weights == "imagenet"
                                       else "xception", weights=weights))


def test_imagenet_uses_the_keras_download_path(tmp_path, monkeypatch):
    from keras.src.utils import file_utils
    source = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "downloaded.weights.h5"
    source.save_weights(path)
    calls = []

    def fake_get_file(fname=None, origin=None, **kwargs):
        calls.append((fname, origin))
        return str(path)

    monkeypatch.setattr(file_utils, "get_file", fake_get_file)
    model = build_model(config=ModelConfig(backbone="vgg16", weights="imagenet", input_size=32))
    assert len(calls) == 1 and "notop" in calls[0][0]
    assert calls[0][1].startswith("https://")
    for want, got in zip(source.weights, model.get_layer(BACKBONE_LAYER).weights):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(got),
                                      keras.ops.convert_to_numpy(want))


def test_imagenet_download_failure_says_what_to_do(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None -- "
                        "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(RuntimeError, match=r"(?s)ImageNet weights of backbone 'xception'.*"
                                           r"name resolution.*set model.weights to its path"):
        build_model(config=ModelConfig(backbone="xception", weights="imagenet", input_size=71))


# ------------------------------------------------------------------------------ refusals

def test_bad_settings_are_refused_before_any_work():
    with pytest.raises(ConfigError, match=r"model.backbone = 'resnet101' is invalid: expected "
                                          r"one of 'alexnet_bn', .*'xception'"):
        ModelConfig(backbone="resnet101")
    with pytest.raises(ConfigError, match=r"model.regime = 'full' is invalid: expected one of "
                                          r"'finetune', 'frozen', 'random'"):
        ModelConfig(regime="full")
    with pytest.raises(ConfigError, match=r"model.input_size = 64 is invalid: expected at least "
                                          r"71 pixels"):
        resolve_input_size(ModelConfig(backbone="xception", input_size=64))
    with pytest.raises(ConfigError, match=r"model.input_size = 20 is invalid"):
        ModelConfig(input_size=20)
    with pytest.raises(ConfigError, match=r"model.dense_units = -1 is invalid"):
        ModelConfig(dense_units=-1)
    with pytest.raises(ConfigError, match=r"input_shape = \(100, 100\) is invalid"):
        build_model(config=ModelConfig(backbone="lensflow", weights="none", regime="random"),
                    input_shape=(100, 100))
    with pytest.raises(TypeError, match="ModelConfig"):
        build_model(config={"backbone": "xception"})


def test_unregistered_head_is_refused(monkeypatch):
    monkeypatch.delitem(HEADS, "mse", raising=False)
    with pytest.raises(ValueError, match=r"unknown model.head 'mse': expected one of "
                                         r".*classifier"):
        build_model(config=ModelConfig(head="mse", backbone="lensflow", weights="none",
                                       regime="random"))


def test_input_size_zero_means_backbone_default():
    assert resolve_input_size(ModelConfig(backbone="xception")) == 200
    assert resolve_input_size(ModelConfig(backbone="lensflow")) == 100
    assert resolve_input_size(ModelConfig(backbone="vgg16", input_size=224)) == 224


# -------------------------------------------------------------------- heads and compiling

def test_classifier_head_layers_follow_the_config():
    config = ModelConfig(backbone="lensflow", regime="random", weights="none", dense_units=48,
                         pool_dropout=0.15, dense_dropout=0.25, activation="elu")
    model = build_model(config=config)
    assert model.get_layer("head_pool_dropout").rate == 0.15
    assert model.get_layer("head_dense").units == 48
    assert model.get_layer("head_activation").get_config()["activation"] == "elu"
    assert model.get_layer("head_dense_dropout").rate == 0.25
    assert model.output.shape[-1] == HEADS["classifier"].n_outputs(None) == 2
    # dense_units = 0: LensFlow exactly as thesis Table 3-1 (600 features -> softmax)
    bare = build_model(config=dataclasses.replace(config, dense_units=0, pool_dropout=0.0))
    assert "head_dense" not in [layer.name for layer in bare.layers]
    assert count_params(bare)[0] == 8_754_532 + 0  # the table's convolutions and dense layers


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_compile_model_uses_the_train_table(optimizer):
    config = ModelConfig(backbone="lensflow", regime="random", weights="none")
    model = compile_model(build_model(config=config), config=config,
                          train=TrainConfig(optimizer=optimizer, learning_rate=3e-4))
    assert type(model.optimizer).__name__.lower() == optimizer
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(3e-4)


def test_lensflow_learns_a_separable_toy_problem(cutouts):
    rng = np.random.default_rng(5)
    n = 64
    images = rng.normal(0.0, 1.0, (n, 100, 100, 1)).astype("float32")
    labels = _labels(n)
    images[labels == 1, 45:55, 45:55] += 8.0  # "lenses" have a bright centre
    config = ModelConfig(backbone="lensflow", regime="random", weights="none", dense_units=0,
                         pool_dropout=0.0)
    model = compile_model(build_model(config=config), config=config, train=TRAIN)
    history = model.fit(images, labels, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["auc"][-1] > 0.9


# ------------------------------------------------------------------------------ save/load

@pytest.mark.parametrize("backbone,regime,size,train", [
    ("xception", "frozen", 71, False), ("efficientnet_b0", "finetune", 40, False),
    ("alexnet_bn", "random", 0, False), ("lensflow", "finetune", 50, True),
])
def test_save_and_load_keras_file(tmp_path, cutouts, backbone, regime, size, train):
    config = ModelConfig(backbone=backbone, regime=regime, weights="none", input_size=size)
    model = build_model(config=config)
    if train:  # optimizer state and metrics go into the file too (checkpoints for resume)
        _train_one_step(model, config, cutouts)
    else:
        compile_model(model, config=config, train=TRAIN)
    path = tmp_path / "model.keras"
    model.save(path)
    restored = load_model(path)
    assert type(restored.get_layer("normalize")) is type(model.get_layer("normalize"))
    np.testing.assert_array_equal(model.predict(cutouts, verbose=0),
                                  restored.predict(cutouts, verbose=0))
    assert count_params(restored) == count_params(model)
    if train:
        assert [m.name for m in restored.metrics] == [m.name for m in model.metrics]
        restored.fit(cutouts, _labels(len(cutouts)), batch_size=4, epochs=1, verbose=0)


def test_load_model_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no saved model"):
        load_model(tmp_path / "nothing.keras")


@pytest.mark.parametrize("backbone, input_size", [("lensflow", 48), ("alexnet_bn", 67),
                                                  ("xception", 71)])
def test_models_take_c_bands_and_the_stem_gives_imagenet_backbones_three(backbone, input_size):
    config = ModelConfig(backbone=backbone, regime="random", weights="none",
                         input_size=input_size, dense_units=8)
    model = build_model(config=config, input_shape=(48, 48, 4))
    assert tuple(model.input_shape) == (None, 48, 48, 4)
    body = model.get_layer(BACKBONE_LAYER) if backbone == "xception" else None
    if body is not None:
        assert tuple(body.input_shape)[-1] == 3
    x = np.random.default_rng(0).normal(size=(2, 48, 48, 4)).astype(np.float32)
    assert model.predict(x, verbose=0).shape == (2, 2)
