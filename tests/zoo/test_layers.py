"""Custom layers: normalisation, backbone ranges, Monte-Carlo dropout; all serialisable."""
from __future__ import annotations

import numpy as np
import pytest

import keras
from keras.applications import imagenet_utils

from lensfind.zoo.layers import (MAD_TO_SIGMA, RANGE_MODES, BackboneRange, MCDropout,
                                 RobustNormalization, mc_dropout_layers, set_mc_dropout)


def _numpy_normalize(images, stretch="asinh", softening=3.0):
    out = []
    for image in images:
        flat = image.reshape(-1).astype(np.float64)
        median = np.median(flat)
        mad = np.median(np.abs(flat - median)) * MAD_TO_SIGMA
        z = (flat - median) / mad
        out.append((np.arcsinh(z / softening) if stretch == "asinh" else z).reshape(image.shape))
    return np.stack(out)


@pytest.mark.parametrize("stretch", ["asinh", "linear"])
def test_robust_normalization_matches_numpy(cutouts, stretch):
    got = keras.ops.convert_to_numpy(RobustNormalization(stretch=stretch)(cutouts))
    np.testing.assert_allclose(got, _numpy_normalize(cutouts, stretch), rtol=1e-4, atol=1e-4)


def test_robust_normalization_ignores_units_and_offsets(cutouts):
    layer = RobustNormalization()
    base = keras.ops.convert_to_numpy(layer(cutouts))
    for scale, offset in [(1e-6, 0.0), (3.7e4, -2e5), (1.0, 1e3)]:
        got = keras.ops.convert_to_numpy(layer(cutouts * np.float32(scale) + np.float32(offset)))
        np.testing.assert_allclose(got, base, atol=2e-3)


def test_robust_normalization_edge_cases():
    layer = RobustNormalization(stretch="linear")
    constant = np.full((1, 20, 20, 1), 7.5, "float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(constant)), 0.0)
    # mostly-constant image (noise-free simulation): MAD is 0, falls back to the RMS about
    # the median
    sparse = np.zeros((1, 20, 20, 1), "float32")
    sparse[0, 10, 10, 0] = 100.0
    got = keras.ops.convert_to_numpy(layer(sparse))
    assert np.isfinite(got).all() and got.max() == pytest.approx(
        100.0 / np.sqrt(np.mean(sparse**2)), rel=1e-4)
    # masked pixels
    masked = np.random.default_rng(1).normal(size=(2, 20, 20, 1)).astype("float32")
    masked[0, :3] = np.nan
    masked[1, 5, 5] = np.inf
    assert np.isfinite(keras.ops.convert_to_numpy(layer(masked))).all()
    with pytest.raises(ValueError, match="stretch = 'log' is invalid"):
        RobustNormalization(stretch="log")


def test_backbone_range_matches_keras_preprocess_input():
    rng = np.random.default_rng(2)
    t = rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
    pixels = 127.5 * (t + 1.0)  # the [0, 255] image the range stands for
    # our channel 0 is "blue" in caffe mode: the RGB image keras would see is pixels[..., ::-1]
    expected = {
        "tf": imagenet_utils.preprocess_input(pixels.copy(), mode="tf"),
        "caffe": imagenet_utils.preprocess_input(pixels[..., ::-1].copy(), mode="caffe"),
        "torch": imagenet_utils.preprocess_input(pixels.copy(), mode="torch"),
        "raw255": pixels,
        "unit": t,
    }
    assert set(expected) == set(RANGE_MODES)
    for mode, want in expected.items():
        layer = BackboneRange(mode)
        got = keras.ops.convert_to_numpy(layer(t))
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-3, err_msg=mode)
        lo, hi = layer.output_range()
        assert lo - 1e-3 <= got.min() and got.max() <= hi + 1e-3


def test_mc_dropout_switches_between_deterministic_and_sampling():
    x = np.ones((4, 64), "float32")
    layer = MCDropout(0.5)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)
    assert not np.array_equal(keras.ops.convert_to_numpy(layer(x, training=True)), x)
    layer.mc = True
    a = keras.ops.convert_to_numpy(layer(x))
    b = keras.ops.convert_to_numpy(layer(x))
    assert not np.array_equal(a, x) and not np.array_equal(a, b)


def test_set_mc_dropout_reaches_predict():
    inputs = keras.Input((16,))
    x = keras.layers.Dense(16)(inputs)
    outputs = MCDropout(0.5, name="drop")(x)
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(3).normal(size=(8, 16)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert set_mc_dropout(model, True) == 1
    assert not np.array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    set_mc_dropout(model, False)
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert mc_dropout_layers(model) == [model.get_layer("drop")]


@pytest.mark.parametrize("layer", [RobustNormalization(stretch="linear", softening=2.0),
                                   BackboneRange("caffe"), MCDropout(0.2, mc=True)],
                         ids=lambda layer: type(layer).__name__)
def test_layers_serialise(layer):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer),
                                                     safe_mode=True)
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
