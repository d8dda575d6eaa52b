import shutil
import tomllib

import h5py
import numpy as np
import pytest

from lensfind.config import experiment_from_dict
from lensfind.data.build import simulation_record
from lensfind.data.store import DataError, DataSet, check_set, read_params, read_set, write_set


def _same_bytes(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_round_trip_is_bit_identical(tiny_set, tiny_batch, tiny_exp):
    ds = tiny_set
    assert len(ds) == 8 and ds.images.shape == (8, 32, 32)
    # chunked writing (3 per chunk) + reading gives the one-shot simulation bit for bit
    assert _same_bytes(ds.images, np.asarray(tiny_batch.images, np.float32))
    assert _same_bytes(ds.labels, np.asarray(tiny_batch.labels, np.int8))
    assert _same_bytes(ds.system_id, np.asarray(tiny_batch.system_id, np.int64))
    assert ds.kinds.tolist() == [str(k) for k in tiny_batch.kinds]
    assert list(ds.params) == list(tiny_batch.params)  # order kept
    for name, values in tiny_batch.params.items():
        assert _same_bytes(ds.params[name], np.asarray(values, np.float32)), name
    assert ds.n_lenses == 4 and set(ds.kinds[ds.labels == 1]) == {"lens"}
    assert np.isnan(ds.params["theta_e"][ds.labels == 0]).all()
    params = read_params(ds.path)      # the parameters alone, the same bits
    assert list(params) == list(ds.params)
    assert all(_same_bytes(params[k], ds.params[k]) for k in params)


def test_metadata_round_trip(tiny_set, tiny_exp):
    meta = tiny_set.meta
    assert meta["format"] == "lensfind-set" and meta["complete"] is True
    assert meta["pixel_scale"] == tiny_exp.simulation.pixel_scale
    assert meta["seed"] == 7 and meta["size"] == 32 and meta["n"] == 8
    assert meta["n_lenses"] == 4 and meta["n_nonlenses"] == 4
    assert {"python", "lensfind", "numpy", "h5py"} <= set(meta["versions"])
    assert meta["config"] == simulation_record(tiny_exp)
    # the TOML text is itself an experiment file that reproduces the simulation table
    again = experiment_from_dict(tomllib.loads(meta["config_toml"]))
    assert again.simulation == tiny_exp.simulation and again.seed == tiny_exp.seed
    assert "theta_e" in meta["param_units"]


def test_rewrite_of_a_read_set_is_identical(tiny_set, tmp_path):
    path = write_set(tmp_path / "copy.h5", tiny_set, config=tiny_set.config,
                     seed=tiny_set.meta["seed"], progress=False)
    copy = read_set(path)
    for key in ("images", "labels", "system_id"):
        assert _same_bytes(getattr(copy, key), getattr(tiny_set, key))
    assert copy.kinds.tolist() == tiny_set.kinds.tolist()
    assert copy.meta == tiny_set.meta


def test_subset_and_len(tiny_set):
    sub = tiny_set.subset([5, 0, 2])
    assert len(sub) == 3
    assert _same_bytes(sub.images[1], tiny_set.images[0])
    assert sub.kinds[0] == tiny_set.kinds[5] and sub.system_id[2] == tiny_set.system_id[2]
    assert _same_bytes(sub.params["theta_e"], tiny_set.params["theta_e"][[5, 0, 2]])
    lenses = tiny_set.subset(tiny_set.labels == 1)
    assert len(lenses) == 4 and (lenses.labels == 1).all()
    assert sub.meta == tiny_set.meta


def test_read_errors_name_the_file_and_what_is_missing(tiny_h5, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.h5: no such file"):
        read_set(tmp_path / "nope.h5")
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(DataError, match=r"text\.h5 is not an HDF5 file"):
        read_set(text)
    broken = tmp_path / "broken.h5"
    shutil.copy(tiny_h5, broken)
    with h5py.File(broken, "a") as f:
        del f["labels"]
    with pytest.raises(DataError, match=r"broken\.h5: missing dataset\(s\) labels"):
        read_set(broken)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DataError, match=r"other\.h5 is not a lensfind set"):
        check_set(other)
    with h5py.File(broken, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(DataError, match="incomplete"):
        read_set(broken)


def test_killed_write_leaves_no_file(tiny_batch, tmp_path):
    def chunks():
        yield tiny_batch
        raise KeyboardInterrupt  # the run is killed after the first chunk

    target = tmp_path / "set.h5"
    with pytest.raises(KeyboardInterrupt):
        write_set(target, chunks(), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_from_batches_matches_written_set(tiny_batch, tiny_set):
    ds = DataSet.from_batches(tiny_batch, config=tiny_set.config, seed=7)
    assert _same_bytes(ds.images, tiny_set.images) and ds.pixel_scale == tiny_set.pixel_scale


def test_stale_temporary_files_of_dead_writers_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from lensfind.data.store import remove_stale_parts
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".set.h5.part-{dead}"
    live = tmp_path / f".set.h5.part-{os.getpid()}"
    stale.write_text("x")
    live.write_text("x")
    assert remove_stale_parts(tmp_path / "set.h5") == [stale]
    assert live.exists() and not stale.exists()


def test_to_toml_round_trips_through_tomllib():
    from lensfind.data.store import to_toml
    data = {"experiment": {"name": "a \"quoted\" näme\n", "seed": 3, "flag": True},
            "simulation": {"size": 100, "scale": 0.05, "range": [0.5, 1.5], "big": 1e-300,
                           "lens": {"theta_e": [0.1, 2.0]}, "weird key": {"x": [1, 2]}},
            "list_of_tables": [{"a": 1}, {"b": "x"}]}
    assert tomllib.loads(to_toml(data)) == data


def test_multi_band_sets_hold_n_h_w_c_and_name_their_bands(gri_h5, gri_exp, tiny_batch, tmp_path):
    data = read_set(gri_h5)
    assert data.images.shape == (8, 32, 32, 3) and data.bands == ("g", "r", "i")
    assert check_set(gri_h5)["bands"] == ["g", "r", "i"]
    assert "bands" not in check_set(write_set(tmp_path / "one.h5", tiny_batch, progress=False))
    # channels that the metadata does not name are refused, on writing and on reading
    with pytest.raises(DataError, match=r"shape \(8, 32, 32, 3\) .*expected \(N, H, W\) \(no "):
        write_set(tmp_path / "x.h5", data, config=None, progress=False)
    broken = tmp_path / "broken.h5"
    shutil.copy(gri_h5, broken)
    with h5py.File(broken, "a") as f:
        f.attrs["bands"] = '["g", "r"]'
    with pytest.raises(DataError, match=r"broken.h5: .*expected \(N, H, W, 2\) for bands \['g', 'r'\]"):
        read_set(broken)
    assert data.subset([0, 1]).bands == ("g", "r", "i")
