import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from lensfind import cli
from lensfind.config import load_experiment
from lensfind.data import build
from lensfind.data.build import cache_key, cache_path, ensure_dataset
from lensfind.data.store import DataError, read_set

ROOT = Path(__file__).resolve().parents[2]


def _run_cli(*argv, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-m", "lensfind.cli", *argv], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=120)


def _images(path):
    with h5py.File(path, "r") as f:
        return f["images"][()]


def test_two_simulate_runs_with_the_same_seed_are_identical(tiny_toml, tmp_path):
    a, b, c = tmp_path / "a.h5", tmp_path / "b.h5", tmp_path / "c.h5"
    assert cli.main(["simulate", str(tiny_toml), "--out", str(a)]) == 0
    proc = _run_cli("simulate", str(tiny_toml), "--out", str(b))  # a separate process
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {b}" in proc.stdout
    assert _images(a).tobytes() == _images(b).tobytes()
    assert read_set(a).meta == read_set(b).meta
    assert cli.main(["simulate", str(tiny_toml), "--set", "experiment.seed=8",
                     "--out", str(c)]) == 0
    assert _images(a).tobytes() != _images(c).tobytes()


def test_simulate_with_fits_export(tiny_toml, tmp_path):
    out, fits_dir = tmp_path / "s.h5", tmp_path / "fits"
    assert cli.main(["simulate", str(tiny_toml), "--out", str(out), "--fits-dir",
                     str(fits_dir)]) == 0
    assert (fits_dir / "index.csv").is_file()
    assert len(list((fits_dir / "cutouts").glob("*.fits"))) == 8


@pytest.mark.parametrize("setting, pattern", [
    ("simulation.n_lenses=-3",
     r"simulation\.n_lenses = -3 is invalid: expected a number in \[0, inf\]"),
    ("simulation.source.kind=\"blob\"",
     r"simulation\.source\.kind = 'blob' is invalid: expected one of 'mixed', 'real', 'sersic'"),
])
def test_bad_config_is_refused_before_any_work(tiny_toml, tmp_path, capsys, setting, pattern):
    out = tmp_path / "never.h5"
    assert cli.main(["simulate", str(tiny_toml), "--set", setting, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("lensfind simulate: error: ") and re.search(pattern, err), err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_bad_config_file_in_a_subprocess(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[simulation]\nsize = 4\nn_lenses = 2\n")
    proc = _run_cli("simulate", str(bad), "--out", str(tmp_path / "x.h5"))
    assert proc.returncode == 2
    assert "bad.toml: simulation.size = 4 is invalid: expected a number in [8, 2048]" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.h5").exists()


def test_default_output_is_the_cache_and_is_reused(tiny_toml, tiny_exp, tmp_path, monkeypatch,
                                                   capsys):
    monkeypatch.setenv("LENSFIND_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["simulate", str(tiny_toml)]) == 0
    path = cache_path(tiny_exp)
    assert path.parent == tmp_path / "data" / "generated"
    assert re.fullmatch(r"sim-[0-9a-f]{10}\.h5", path.name) and path.is_file()
    monkeypatch.setattr(build, "simulate_to", lambda *a, **k: pytest.fail("simulated again"))
    assert cli.main(["simulate", str(tiny_toml)]) == 0
    assert "reusing it" in capsys.readouterr().out
    assert ensure_dataset(tiny_exp) == path


def test_ensure_dataset_caches_by_simulation_and_seed(tiny_exp, tmp_path, monkeypatch):
    calls = []
    real = build.simulate_to
    monkeypatch.setattr(build, "simulate_to",
                        lambda exp, path, **kw: calls.append(path) or real(exp, path, **kw))
    p1 = ensure_dataset(tiny_exp, cache_dir=tmp_path, progress=False)
    assert ensure_dataset(tiny_exp, cache_dir=tmp_path, progress=False) == p1 and len(calls) == 1
    # training settings do not change the set; the seed and the simulation do
    assert cache_key(tiny_exp.replace(train={"epochs": 1})) == cache_key(tiny_exp)
    renamed = tiny_exp.replace(experiment={"name": "another-experiment"})
    assert ensure_dataset(renamed, cache_dir=tmp_path, progress=False) == p1 and len(calls) == 1
    assert cache_key(tiny_exp.replace(experiment={"seed": 8})) != cache_key(tiny_exp)
    other = tiny_exp.replace(simulation={"n_lenses": 3})
    assert cache_key(other) != cache_key(tiny_exp)
    assert len(read_set(p1)) == 8


def test_killed_simulation_leaves_no_cached_file(tiny_exp, tmp_path, monkeypatch):
    real = build.simulate_chunks

    def dying(*args, **kwargs):
        gen = real(*args, **kwargs)
        yield next(gen)
        raise KeyboardInterrupt

    monkeypatch.setattr(build, "simulate_chunks", dying)
    with pytest.raises(KeyboardInterrupt):
        ensure_dataset(tiny_exp, cache_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_experiment_data_must_be_a_lensfind_set(tiny_exp, tiny_h5, tmp_path):
    assert ensure_dataset(tiny_exp.replace(experiment={"data": str(tiny_h5)})) == tiny_h5
    missing = tiny_exp.replace(experiment={"data": str(tmp_path / "gone.h5")})
    with pytest.raises(FileNotFoundError, match=r"experiment\.data = '.*gone\.h5': no such file"):
        ensure_dataset(missing)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"junk\.h5 is not an HDF5 file: expected a set made by"):
        ensure_dataset(tiny_exp.replace(experiment={"data": str(junk)}))


def test_output_folder_refused_before_simulating(tiny_toml, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(build, "simulate_to", lambda *a, **k: pytest.fail("simulated"))
    assert cli.main(["simulate", str(tiny_toml), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


def test_shipped_simulate_experiment_small_is_valid():
    exp = load_experiment(ROOT / "experiments" / "simulate-default.toml", small=True)
    full = load_experiment(ROOT / "experiments" / "simulate-default.toml")
    assert exp.simulation.n_lenses < full.simulation.n_lenses
    assert exp.name == "simulate-default"


def test_experiment_data_with_other_bands_is_refused_naming_both(gri_h5, tiny_exp, gri_exp):
    with pytest.raises(DataError, match=r"the data's bands \['g', 'r', 'i'\] differ from the "
                                        r"model's \[\]"):
        ensure_dataset(tiny_exp.replace(experiment={"data": str(gri_h5)}))
    assert ensure_dataset(gri_exp.replace(experiment={"data": str(gri_h5)})) == gri_h5
