"""The backbone registry: every entry builds into a full model and runs a forward pass."""
from __future__ import annotations

import re

import numpy as np
import pytest

import keras

from lensfind.validation import ConfigError
from lensfind.zoo.backbones import BACKBONES, RANGE_TEXT
from lensfind.zoo.describe import describe_zoo
from lensfind.zoo.config import ModelConfig
from lensfind.zoo.layers import BackboneRange
from lensfind.zoo.model import build_model

THESIS_NETWORKS = {"xception", "inception_v3", "resnet50", "nasnet_mobile", "nasnet_large",
                   "vgg16", "vgg19", "efficientnet_b0"}
BASELINES = {"lensflow", "small_cnn", "lens_cnn", "alexnet_bn"}


def test_registry_names():
    assert set(BACKBONES) == THESIS_NETWORKS | BASELINES
    for name, spec in BACKBONES.items():
        assert spec.pretrained == (name in THESIS_NETWORKS) == spec.stem
        assert spec.preprocess in RANGE_TEXT
        assert spec.min_size <= spec.default_size


@pytest.mark.parametrize("name", list(BACKBONES))
def test_every_backbone_builds_and_predicts(name, cutouts):
    spec = BACKBONES[name]
    config = ModelConfig(backbone=name, weights="none", regime="random",
                         input_size=spec.min_size)
    model = build_model(config=config)
    backbone = model.get_layer("backbone")
    assert tuple(backbone.input.shape[1:]) == (spec.min_size, spec.min_size,
                                               3 if spec.stem else 1)
    probs = keras.ops.convert_to_numpy(model(cutouts[:1]))
    assert probs.shape == (1, 2) and np.isfinite(probs).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    if spec.stem:
        # the stem feeds the backbone in the backbone's own preprocessing range
        stem = keras.Model(model.input, model.get_layer("stem_range").output)
        image = keras.ops.convert_to_numpy(stem(cutouts[:1]))
        layer = model.get_layer("stem_range")
        assert isinstance(layer, BackboneRange) and layer.mode == spec.preprocess
        lo, hi = layer.output_range()
        assert lo - 1e-3 <= image.min() and image.max() <= hi + 1e-3


@pytest.mark.parametrize("name", list(BACKBONES))
def test_input_size_below_minimum_is_refused(name):
    spec = BACKBONES[name]
    too_small = max(spec.min_size - 1, 32)
    if too_small >= spec.min_size:
        with pytest.raises(ConfigError, match=r"model.input_size = 31 is invalid"):
            ModelConfig(backbone=name, input_size=31)
        return
    config = ModelConfig(backbone=name, weights="none", regime="random", input_size=too_small)
    with pytest.raises(ConfigError, match=rf"model.input_size = {too_small} is invalid: "
                                          rf"expected at least {spec.min_size} pixels.*{name}"):
        build_model(config=config)


def test_default_sizes_follow_the_thesis_upsampling():
    for name, spec in BACKBONES.items():
        assert spec.default_size == (200 if spec.stem else 100), name


def test_lensflow_is_table_3_1():
    model = BACKBONES["lensflow"].builder(input_shape=(100, 100, 1))
    shapes = [tuple(layer.output.shape[1:]) for layer in model.layers[1:]]
    assert shapes == [(96, 96, 30), (48, 48, 30), (44, 44, 60), (22, 22, 60), (18, 18, 90),
                      (9, 9, 90), (7290,), (1000,), (800,), (600,)]
    assert [layer.activation.__name__ for layer in model.layers
            if isinstance(layer, keras.layers.Conv2D)] == ["tanh"] * 3


def test_alexnet_bn_dropout_before_and_batchnorm_after_each_conv():
    config = ModelConfig(backbone="alexnet_bn", conv_dropout=0.1)
    model = BACKBONES["alexnet_bn"].builder(input_shape=(100, 100, 1), config=config)
    kinds = [type(layer).__name__ for layer in model.layers]
    convs = [i for i, kind in enumerate(kinds) if kind == "Conv2D"]
    assert len(convs) == 5
    for i in convs:
        assert kinds[i - 1] == "MCDropout" and kinds[i + 1] == "BatchNormalization"
        assert model.layers[i - 1].rate == 0.1


def test_describe_zoo_lists_every_backbone():
    table = describe_zoo(measure=False)
    lines = table.splitlines()
    assert len(lines) == 2 + len(BACKBONES)
    for name in BACKBONES:
        assert re.search(rf"^\| `{name}` \|", table, re.M)
    assert "| `lensflow` | LensFlow" in describe_zoo(["lensflow"], size=100)


def test_zoo_code_is_backend_agnostic():
    """Model code uses keras.ops only, so the same models run under KERAS_BACKEND=jax."""
    import pathlib

    import lensfind.zoo as zoo
    for name in ("backbones", "baselines", "heads", "layers", "model", "stems"):
        text = (pathlib.Path(zoo.__file__).parent / f"{name}.py").read_text()
        assert not re.search(r"^\s*(import|from)\s+(tensorflow|jax|torch)\b", text, re.M), name
