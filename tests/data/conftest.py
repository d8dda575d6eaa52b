"""Shared fixtures: a tiny experiment simulated with the real simulator (8 cutouts, 32 x 32 px)."""
from __future__ import annotations

from pathlib import Path

import pytest

from lensfind.config import load_experiment

TINY_TOML = """\
[experiment]
name = "tiny"
seed = 7

[simulation]
size = 32
supersampling = 1
n_lenses = 4
n_nonlenses = 4
"""


@pytest.fixture(scope="session")
def tiny_toml(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("exp") / "tiny.toml"
    path.write_text(TINY_TOML)
    return path


@pytest.fixture(scope="session")
def tiny_exp(tiny_toml):
    return load_experiment(tiny_toml)


@pytest.fixture(scope="session")
def tiny_batch(tiny_exp):
    from lensfind.sim.simulate import simulate
    return simulate(tiny_exp.simulation, seed=tiny_exp.seed)


@pytest.fixture(scope="session")
def tiny_h5(tiny_exp, tmp_path_factory) -> Path:
    """The tiny set written chunk by chunk (3 images per chunk, so several chunks)."""
    from lensfind.data.build import simulation_record
    from lensfind.data.store import write_set
    from lensfind.sim.simulate import simulate_chunks
    path = tmp_path_factory.mktemp("sets") / "tiny.h5"
    chunks = simulate_chunks(tiny_exp.simulation, seed=tiny_exp.seed, chunk_size=3)
    return write_set(path, chunks, config=simulation_record(tiny_exp), seed=tiny_exp.seed,
                     progress=False)


@pytest.fixture(scope="session")
def tiny_set(tiny_h5):
    from lensfind.data.store import read_set
    return read_set(tiny_h5)


@pytest.fixture(scope="session")
def gri_exp(tiny_exp):
    """The tiny experiment in three bands (LSST-like g, r, i)."""
    return tiny_exp.replace(simulation={"bands": [{"name": b, "zero_point": 28.4,
                                                   "psf_fwhm": [0.1, 0.15]} for b in "gri"]})


@pytest.fixture(scope="session")
def gri_h5(gri_exp, tmp_path_factory) -> Path:
    from lensfind.data.build import simulate_to
    return simulate_to(gri_exp, tmp_path_factory.mktemp("sets") / "gri.h5", progress=False)
