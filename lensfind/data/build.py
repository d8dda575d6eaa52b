"""Make data sets from experiment files: ``lensfind simulate`` and the cache used by training.

A set is determined by the experiment's ``[simulation]`` table and its seed. :func:`ensure_dataset`
simulates it once and keeps it under ``data/generated/sim-<hash>.h5`` (``hash`` covers the
simulation settings, the seed, the set format and the lensfind version), so every run of the
same experiment -- and every experiment with the same simulation -- reuses the file.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import lensfind
from lensfind.data.store import (
    FORMAT_VERSION,
    DataError,
    check_bands,
    check_set,
    read_set,
    remove_stale_parts,
    write_set,
)
from lensfind.sim.simulate import simulate_chunks
from lensfind.validation import to_dict

#: simulation chunk (images per SimBatch) streamed into the HDF5 file
CHUNK_SIZE = 256


def data_root() -> Path:
    """Folder of data files: ``$LENSFIND_DATA_DIR`` or ``./data``."""
    return Path(os.environ.get("LENSFIND_DATA_DIR") or "data")


def simulation_record(exp) -> dict[str, Any]:
    """What determines a simulated set (and is stored in it): name, seed and ``[simulation]``."""
    return {"experiment": {"name": exp.experiment.name, "seed": exp.experiment.seed},
            "simulation": to_dict(exp.simulation)}


def cache_key(exp) -> str:
    """Short hash of the simulation settings + seed (+ set format and lensfind version)."""
    record: dict[str, Any] = {"simulation": to_dict(exp.simulation), "seed": exp.experiment.seed,
                              "format_version": FORMAT_VERSION, "lensfind": lensfind.__version__}
    psf_path = getattr(getattr(exp.simulation, "psf", None), "image_path", "")
    if psf_path and Path(psf_path).is_file():  # a PSF file's content, not only its name
        record["psf_sha256"] = hashlib.sha256(Path(psf_path).read_bytes()).hexdigest()
    for band in getattr(exp.simulation, "bands", ()):
        if band.psf_image and Path(band.psf_image).is_file():
            record[f"psf_sha256_{band.name}"] = hashlib.sha256(
                Path(band.psf_image).read_bytes()).hexdigest()
    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]


def cache_path(exp, cache_dir: str | Path | None = None) -> Path:
    """``data/generated/sim-<cache_key>.h5``: shared by every experiment with the same simulation."""
    folder = Path(cache_dir) if cache_dir is not None else data_root() / "generated"
    return folder / f"sim-{cache_key(exp)}.h5"


def simulate_to(exp, path: str | Path, *, progress: bool = True,
                chunk_size: int = CHUNK_SIZE) -> Path:
    """Simulate the experiment's set and write it to ``path`` (atomically); return the path."""
    sim = exp.simulation
    chunks = simulate_chunks(sim, seed=exp.experiment.seed, chunk_size=chunk_size)
    return write_set(path, chunks, config=simulation_record(exp), seed=exp.experiment.seed,
                     progress=progress, total=sim.n_lenses + sim.n_nonlenses)


def is_complete_set(path: Path) -> bool:
    """Whether ``path`` is a complete, readable lensfind set."""
    try:
        check_set(path)
        return True
    except (OSError, ValueError):
        return False


def ensure_dataset(exp, *, cache_dir: str | Path | None = None, progress: bool = True) -> Path:
    """The path of the experiment's data set, simulating and caching it on first use.

    If ``[experiment] data`` names a file, that file is checked (it must exist and be a complete
    lensfind set) and returned; nothing is simulated. Otherwise the set is simulated once into
    :func:`cache_path` (written under a temporary name, then renamed).

    Raises:
        FileNotFoundError / DataError: ``experiment.data`` is missing or not a lensfind set; the
            message names the file and what was expected.
    """
    if exp.experiment.data:
        path = Path(exp.experiment.data).expanduser()
        try:
            meta = check_set(path)
        except FileNotFoundError:
            raise FileNotFoundError(
                f"experiment.data = {exp.experiment.data!r}: no such file (expected an HDF5 set "
                "made by `lensfind simulate`; leave experiment.data empty to simulate one from "
                "[simulation])") from None
        except DataError as err:
            raise DataError(f"experiment.data = {exp.experiment.data!r}: {err}") from None
        check_bands(meta.get("bands", []), exp.simulation.band_names,
                    f"experiment.data = {exp.experiment.data!r}")
        return path
    path = cache_path(exp, cache_dir)
    remove_stale_parts(path)
    if path.exists():
        if is_complete_set(path):
            return path
        print(f"lensfind: cached set {path} is unreadable; simulating it again", file=sys.stderr)
    return simulate_to(exp, path, progress=progress)


def load_dataset(exp, **kwargs):
    """:func:`ensure_dataset` then :func:`~lensfind.data.store.read_set`."""
    return read_set(ensure_dataset(exp, **kwargs))


def check_outputs(out: Path, fits_dir: Path | None) -> None:
    """Refuse unusable output paths before simulating anything."""
    if out.is_dir():
        raise DataError(f"--out {out} is a folder: expected the name of an HDF5 file to write")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"--out {out}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK):
                raise DataError(f"--out {out}: folder {parent} is not writable")
            break
    if fits_dir is not None and fits_dir.exists() and not fits_dir.is_dir():
        raise DataError(f"--fits-dir {fits_dir} is a file: expected a folder for the FITS cutouts")


__all__ = ["cache_key", "cache_path", "data_root", "ensure_dataset", "load_dataset",
           "simulate_to", "simulation_record"]
