"""Shared fixtures: an easy simulated set (bright lenses vs. lens galaxies without a source) and
one uninterrupted tiny cross-validation run of the real pipeline (simulator -> HDF5 store ->
zoo's LensFlow baseline -> run_cv), used as the reference the other runs must reproduce."""
from __future__ import annotations

import pytest

#: a tiny, easy lens-finding experiment: 120 cutouts of 100x100, 3 folds, 2 epochs, LensFlow
#: (input resized to 40x40) with dropout in the head, so resume must restore dropout RNG states
EASY = {
    "experiment": {"name": "easy-cv", "seed": 5},
    "simulation": {
        "n_lenses": 60, "n_nonlenses": 60, "supersampling": 1, "field_galaxies": 0.0,
        "source": {"magnitude": [20.0, 21.0], "offset": [0.0, 0.3]},
        "lens": {"theta_e": [1.0, 1.5]},
        "artifacts": {"cosmic_rays": 0.0, "hot_pixels": 0.0, "mask_probability": 0.0},
        "negatives": {"lens_galaxy": 1.0, "neighbour": 0.0, "star": 0.0, "ring": 0.0,
                      "spiral": 0.0, "real_hst": 0.0},
    },
    "model": {"backbone": "lensflow", "regime": "random", "weights": "none", "input_size": 40,
              "dense_units": 16, "pool_dropout": 0.2, "dense_dropout": 0.2},
    "train": {"folds": 3, "epochs": 2, "batch_size": 16, "learning_rate": 1e-3, "patience": 3},
}


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """Simulated sets are cached here (LENSFIND_DATA_DIR) for the whole session."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def easy_exp():
    from lensfind.config import experiment_from_dict
    return experiment_from_dict(EASY, source="tests/train/conftest.py")


@pytest.fixture(scope="session")
def reference_run(easy_exp, data_dir, tmp_path_factory):
    """One uninterrupted run: (CVResult, seconds, printed output)."""
    import io
    import os
    import time

    from lensfind.train.cv import run_cv
    old = os.environ.get("LENSFIND_DATA_DIR")
    os.environ["LENSFIND_DATA_DIR"] = str(data_dir)
    out = io.StringIO()
    try:
        t0 = time.perf_counter()
        result = run_cv(easy_exp, runs_root=tmp_path_factory.mktemp("runs"), stream=out)
        seconds = time.perf_counter() - t0
    finally:
        if old is None:
            os.environ.pop("LENSFIND_DATA_DIR", None)
        else:
            os.environ["LENSFIND_DATA_DIR"] = old
    return result, seconds, out.getvalue()
