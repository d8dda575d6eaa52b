"""Shared fixtures of the zoo tests: small random cutouts and quiet model building."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import keras


@pytest.fixture
def cutouts():
    """Four 100x100 cutouts in arbitrary units (sky + noise + a bright blob)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:100, :100]
    blob = np.exp(-((x - 50.0) ** 2 + (y - 50.0) ** 2) / 50.0)
    images = 120.0 + rng.normal(0.0, 5.0, (4, 100, 100)) + 400.0 * blob
    return images[..., None].astype("float32")


@pytest.fixture(autouse=True)
def _fresh_keras():
    """Seed Keras and free graphs between tests (memory stays flat across the registry walk)."""
    keras.utils.set_random_seed(1234)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="model.regime")
        yield
    keras.backend.clear_session()
