"""Helpers of the scoring tests: tiny real run directories and cutout lists on disk."""
from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np

SIZE = 40  # cutout side of the test models (lensflow accepts >= 36)


def make_run(root: Path, name: str = "cls", *, task: str = "classify", folds: int = 2,
             size: int = SIZE, head: str = "classifier", dropout: float = 0.3,
             seed: int = 0, bands: tuple[str, ...] = ()) -> Path:
    """A real lensfind run directory with ``folds`` untrained lensflow fold models (of
    ``bands``' channels, recorded in ``simulation.bands``; ``()``: one band)."""
    import keras

    from lensfind.config import Experiment
    from lensfind.train.rundir import DONE, RunDir
    from lensfind.zoo.model import build_model

    model_table = {"backbone": "lensflow", "weights": "none", "regime": "random",
                   "input_size": size, "head": head, "dense_units": 8,
                   "pool_dropout": dropout, "dense_dropout": dropout}
    if task == "regress":
        model_table["targets"] = ["theta_e", "e1"]
    exp = Experiment().replace(experiment={"name": name, "task": task, "seed": seed},
                               model=model_table, train={"folds": max(folds, 2)},
                               simulation={"bands": [{"name": b} for b in bands]})
    run = RunDir.create(root / name / "run1", exp)
    for k in range(folds):
        keras.utils.set_random_seed(seed + k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = build_model(config=exp.model, input_shape=(size, size, max(len(bands), 1)))
        if task == "regress":
            from lensfind.zoo.regression_heads import set_target_scaling
            set_target_scaling(model, [1.0, 0.0], [0.3, 0.1])
        fold = run.fold_dir(k)
        fold.mkdir()
        model.save(fold / "model.keras")
        (fold / DONE).write_text("")
    return run.path


def blob(size: int = SIZE, seed: int = 0, amp: float = 50.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size]
    c = (size - 1) / 2
    img = 10.0 + rng.normal(0, 1.0, (size, size)) + amp * np.exp(
        -((x - c) ** 2 + (y - c) ** 2) / (2 * (size / 10) ** 2)) * rng.uniform(0.2, 1.0)
    return img.astype(np.float32)


def write_fits(path: Path, data: np.ndarray, **kwargs) -> Path:
    from astropy.io import fits
    path.parent.mkdir(parents=True, exist_ok=True)
    fits.PrimaryHDU(data, **kwargs).writeto(path, overwrite=True)
    return path


def write_list(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def good_list(folder: Path, n: int, *, size: int = SIZE, grades=("A", "B", "C")) -> Path:
    """``folder/list.csv`` with ``n`` good FITS cutouts, a grade and a passthrough column."""
    rows = []
    for i in range(n):
        rel = f"cutouts/c{i:05d}.fits"
        write_fits(folder / rel, blob(size, i))
        rows.append([f"c{i:05d}", rel, grades[i % len(grades)], f"note {i}"])
    return write_list(folder / "list.csv", ["id", "path", "grade", "comment"], rows)


def bad_files(tmp_path: Path) -> dict[str, tuple[str, str, str]]:
    """name -> (path, expected status, text expected in the reason)."""
    from astropy.io import fits
    img = blob(40, 2)
    cases = {}
    write_fits(tmp_path / "ok.fits", img)
    data = (tmp_path / "ok.fits").read_bytes()
    (tmp_path / "trunc.fits").write_bytes(data[:6000])
    cases["truncated"] = ("trunc.fits", "unreadable", "truncated")
    (tmp_path / "header_only.fits").write_bytes(data[:1000])
    cases["cut in the header"] = ("header_only.fits", "unreadable", "FITS")
    (tmp_path / "garbage.fits").write_bytes(b"this is not a FITS file at all\n" * 10)
    cases["garbage"] = ("garbage.fits", "unreadable", "not a FITS or NPY")
    (tmp_path / "empty.fits").write_bytes(b"")
    cases["empty file"] = ("empty.fits", "unreadable", "0 bytes")
    table = fits.BinTableHDU.from_columns([fits.Column(name="a", format="E", array=[1.0])])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(tmp_path / "table.fits")
    cases["table only"] = ("table.fits", "no_image", "BinTableHDU")
    cases["missing"] = ("nope.fits", "missing_file", "no such file")
    cases["directory"] = (".", "unreadable", "not a regular file")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    cases["pickled npy"] = ("obj.npy", "unreadable", "pickled data, never loaded")
    np.savez(tmp_path / "arch.npz", a=img)
    cases["npz"] = ("arch.npz", "unreadable", "NPZ")
    np.save(tmp_path / "text.npy", np.array([["a"] * 40] * 40))
    cases["text npy"] = ("text.npy", "unreadable", "expected numbers")
    write_fits(tmp_path / "small.fits", blob(20, 3))
    cases["far too small"] = ("small.fits", "wrong_shape", "image is 20x20; the models need 40x40")
    write_fits(tmp_path / "rgb.fits", np.stack([img] * 3))
    cases["3 planes"] = ("rgb.fits", "wrong_shape", "3-D data 3x40x40")
    nan = img.copy()
    nan[3, 4] = np.nan
    write_fits(tmp_path / "nan.fits", nan)
    cases["NaN"] = ("nan.fits", "non_finite", "1 NaN and 0 infinite")
    inf = img.copy()
    inf[5, 5] = np.inf
    np.save(tmp_path / "inf.npy", inf)
    cases["inf"] = ("inf.npy", "non_finite", "0 NaN and 1 infinite")
    cases["empty path"] = ("  ", "empty_path", "empty")
    return cases


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
