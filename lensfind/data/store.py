"""Labelled image sets in HDF5: write simulated batches once, read them back for training.

Layout of a set (``h5py``; one file, arrays chunked along the first axis)::

    /images      float32 (N, H, W)   cutouts in electrons (noise included); (N, H, W, C) for a
                                     multi-band set, channels in the order of attrs "bands"
    /labels      int8    (N,)        1 = lens, 0 = non-lens
    /kinds       utf-8   (N,)        "lens", "star", "spiral", ... (see lensfind.sim)
    /system_id   int64   (N,)        one id per simulated system (groups for cross-validation)
    /params/<p>  float32 (N,)        one array per parameter, NaN where it does not apply
    attrs        format="lensfind-set", format_version, complete, pixel_scale, seed, size, n,
                 n_lenses, n_nonlenses, versions (JSON), config_json, config_toml (the resolved
                 configuration as text), param_units (JSON); bands (JSON list of band names,
                 only in multi-band sets: ``simulation.bands``)

:func:`write_set` writes to a temporary name and renames it when the last image is in, so a
killed run never leaves a file that looks complete. :func:`read_set` refuses anything else with
a message that names the file and what is missing.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lensfind.sim.params import PARAMS

FORMAT = "lensfind-set"
FORMAT_VERSION = 1
REQUIRED = ("images", "labels", "kinds", "system_id", "params")

#: packages whose versions are recorded in every set (TensorFlow is deliberately not imported)
VERSION_PACKAGES = ("lensfind", "numpy", "scipy", "h5py", "astropy")


class DataError(ValueError):
    """A data file is missing, unreadable or not what was expected; the message names the file."""

# ----------------------------------------------------------------------------------- metadata

def package_versions(packages: Sequence[str] = VERSION_PACKAGES) -> dict[str, str]:
    """``{"python": ..., package: version}`` from installed metadata (no heavy imports)."""
    from importlib import metadata
    out = {"python": sys.version.split()[0]}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _plain(obj: Any) -> Any:
    """Config dataclass / mapping -> plain dict, lists for tuples (JSON and TOML ready)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
    if value is None:
        raise TypeError("TOML has no null value")
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _toml_key(key: str) -> str:
    bare = key and all(c.isalnum() or c in "-_" for c in key) and key.isascii()
    return key if bare else json.dumps(key)


def to_toml(data: Mapping[str, Any]) -> str:
    """Write a nested mapping of plain values as TOML text (tables for nested mappings)."""
    lines: list[str] = []

    def table(prefix: str, node: Mapping[str, Any]) -> None:
        scalars = [(k, v) for k, v in node.items() if not isinstance(v, Mapping) and v is not None]
        tables = [(k, v) for k, v in node.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for k, v in scalars:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        if scalars:
            lines.append("")
        for k, v in tables:
            table(f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k), v)

    table("", _plain(data))
    return "\n".join(lines).rstrip() + "\n"


def _config_parts(config: Any) -> tuple[dict[str, Any], float | None, int | None]:
    """(plain config, pixel scale, image size) from an Experiment, a SimConfig or a mapping."""
    plain = _plain(config) if config is not None else {}
    if not isinstance(plain, dict):
        raise TypeError(f"config must be a dataclass or a mapping, got {type(config).__name__}")
    sim = plain.get("simulation", plain)
    sim = sim if isinstance(sim, dict) else {}
    return plain, sim.get("pixel_scale"), sim.get("size")


def _param_units() -> dict[str, str]:
    return {name: str(spec[0]) for name, spec in PARAMS.items()}


# ------------------------------------------------------------------------------------ DataSet

@dataclasses.dataclass
class DataSet:
    """An image set in memory.

    Attributes:
        images: float32 (N, H, W) cutouts (electrons for simulated sets), or (N, H, W, C) with
            ``meta["bands"]`` naming the C channels.
        labels: int8 (N,) 1 = lens, 0 = non-lens.
        params: name -> float32 (N,), NaN where a parameter does not apply.
        kinds: str (N,) kind of each cutout ("lens", "star", ...).
        system_id: int64 (N,) simulated system of each cutout (cross-validation groups).
        meta: pixel_scale, seed, versions, config (dict), config_toml, ... (see module doc).
        path: the file it was read from, if any.
    """
    images: np.ndarray
    labels: np.ndarray
    params: dict[str, np.ndarray]
    kinds: np.ndarray
    system_id: np.ndarray
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    path: Path | None = None

    def __post_init__(self):
        n = len(self.images)
        check_channels(self.images.shape, self.bands, self.path or "data set")
        for name, arr in [("labels", self.labels), ("kinds", self.kinds),
                          ("system_id", self.system_id)] + \
                [(f"params/{k}", v) for k, v in self.params.items()]:
            if len(arr) != n:
                raise DataError(f"{name} has {len(arr)} entries but there are {n} images")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        src = f" from {self.path}" if self.path else ""
        return (f"DataSet({len(self)} cutouts {self.images.shape[1]}x{self.images.shape[2]}, "
                f"{self.n_lenses} lenses{src})")

    @property
    def n_lenses(self) -> int:
        return int(np.count_nonzero(self.labels == 1))

    @property
    def bands(self) -> tuple[str, ...]:
        """Names of the image channels; ``()`` for a single-band (N, H, W) set."""
        return tuple(self.meta.get("bands", ()))

    @property
    def pixel_scale(self) -> float | None:
        return self.meta.get("pixel_scale")

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration the set was made with (plain dict; empty if unknown)."""
        return self.meta.get("config", {})

    def subset(self, indices: Sequence[int] | np.ndarray) -> "DataSet":
        """A new set with the cutouts at ``indices`` (integer indices or a boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype != bool:
            idx = idx.astype(np.intp, copy=False)
        return DataSet(images=self.images[idx], labels=self.labels[idx],
                       params={k: v[idx] for k, v in self.params.items()},
                       kinds=self.kinds[idx], system_id=self.system_id[idx],
                       meta=dict(self.meta), path=self.path)

    @classmethod
    def from_batches(cls, batches: Any, *, config: Any = None, seed: int | None = None
                     ) -> "DataSet":
        """Concatenate one :class:`~lensfind.sim.simulate.SimBatch` or an iterable of them."""
        batches = [batches] if hasattr(batches, "images") else list(batches)
        if not batches:
            raise DataError("no batches to make a data set from")
        names = list(batches[0].params)
        for b in batches[1:]:
            _check_same_params(names, b)
        plain, pixel_scale, _ = _config_parts(config)
        images = np.concatenate([np.asarray(b.images, np.float32) for b in batches])
        labels = np.concatenate([np.asarray(b.labels, np.int8) for b in batches])
        return cls(images=images, labels=labels,
                   params={k: np.concatenate([np.asarray(b.params[k], np.float32)
                                              for b in batches]) for k in names},
                   kinds=np.concatenate([np.asarray(b.kinds, str) for b in batches]),
                   system_id=np.concatenate([np.asarray(b.system_id, np.int64) for b in batches]),
                   meta=_make_meta(plain, pixel_scale, seed, images.shape, labels))


def set_bands(config: Any) -> list[str]:
    """Band names of the set a config simulates (``simulation.bands``; ``[]``: one band)."""
    plain = _plain(config) if config is not None else {}
    sim = plain.get("simulation", plain) if isinstance(plain, dict) else {}
    bands = sim.get("bands", []) if isinstance(sim, dict) else []
    return [b["name"] if isinstance(b, dict) else str(b) for b in bands]


def check_channels(shape: tuple[int, ...], bands: Sequence[str], where: Any) -> None:
    """Images ``(N, H, W)`` without bands, or ``(N, H, W, C)`` with C band names."""
    expected = (f"(N, H, W, {len(bands)}) for bands {list(bands)}" if bands
                else "(N, H, W) (no bands in the metadata)")
    if len(shape) != (4 if bands else 3) or (bands and shape[-1] != len(bands)):
        raise DataError(f"{where}: images of shape {tuple(shape)} are invalid: expected "
                        f"{expected}")


def check_bands(have: Sequence[str], want: Sequence[str], what: str) -> None:
    """Refuse data whose bands differ from the model's, naming both lists (``[]``: the single
    default band)."""
    if list(have) != list(want):
        raise DataError(f"{what}: the data's bands {list(have)} differ from the model's "
                        f"{list(want)}; simulate or cut out the model's bands in its order")


def _check_same_params(names: Sequence[str], batch: Any) -> None:
    if list(batch.params) != list(names):
        raise DataError(f"batches disagree on parameters: {sorted(names)} vs {sorted(batch.params)}")


def _make_meta(plain: dict[str, Any], pixel_scale: float | None, seed: int | None,
               shape: tuple[int, ...], labels: np.ndarray) -> dict[str, Any]:
    n_lenses = int(np.count_nonzero(labels == 1))
    return {
        "format": FORMAT, "format_version": FORMAT_VERSION, "complete": True,
        "pixel_scale": float(pixel_scale) if pixel_scale is not None else float("nan"),
        "seed": int(seed) if seed is not None else -1,
        "size": int(shape[1]) if len(shape) > 1 else 0,
        "n": int(shape[0]), "n_lenses": n_lenses, "n_nonlenses": int(shape[0]) - n_lenses,
        "versions": package_versions(), "config": plain,
        "config_json": json.dumps(plain),
        "config_toml": to_toml(plain) if plain else "",
        "param_units": _param_units(),
    } | ({"bands": set_bands(plain)} if set_bands(plain) else {})


# -------------------------------------------------------------------------------------- write

_JSON_ATTRS = ("versions", "param_units", "bands")
_DERIVED = ("config",)  # meta["config"] is read back from the config_json attribute


def temporary_path(path: Path) -> Path:
    """Where :func:`write_set` writes before the final rename (unique per process)."""
    return path.with_name(f".{path.name}.part-{os.getpid()}")


def remove_stale_parts(path: Path) -> list[Path]:
    """Delete temporary files of ``path`` left by killed writers (processes no longer alive)."""
    removed = []
    for part in Path(path).parent.glob(f".{Path(path).name}.part-*"):
        try:
            pid = int(part.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            part.unlink(missing_ok=True)
            removed.append(part)
        except (ValueError, PermissionError, OSError):
            continue
    return removed


def write_set(path: str | Path, batches: Any, *, config: Any = None, seed: int | None = None,
              progress: bool = True, total: int | None = None, chunk_rows: int = 16) -> Path:
    """Stream simulated batches into an HDF5 set at ``path`` and return the path.

    Args:
        path: file to write; replaced atomically when complete (parent folders are created).
        batches: a ``SimBatch`` / :class:`DataSet`, or an iterable of them (e.g.
            ``simulate_chunks(...)``); all must share the same parameter names and image size.
        config: the resolved ``Experiment`` or ``SimConfig`` (or a mapping), stored as JSON and
            TOML text; its ``pixel_scale`` is recorded.
        seed: the simulation seed, recorded in the metadata.
        progress: show a tqdm progress bar (cutouts written).
        total: expected number of cutouts for the progress bar (default: from the config's
            ``n_lenses + n_nonlenses`` when known).
        chunk_rows: HDF5 chunk length along the first axis.
    """
    import h5py
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder: expected the name of an HDF5 file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    plain, pixel_scale, _ = _config_parts(config)
    if total is None:
        sim = plain.get("simulation", plain)
        if isinstance(sim, dict) and isinstance(sim.get("n_lenses"), int):
            total = sim["n_lenses"] + int(sim.get("n_nonlenses", 0))
    batches = [batches] if hasattr(batches, "images") else batches
    tmp = temporary_path(path)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total, unit="img", desc=f"simulate {path.name}", file=sys.stderr,
                   dynamic_ncols=True)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["complete"] = False
            n = 0
            names: list[str] | None = None
            labels_all = []
            for batch in batches:
                images = np.asarray(batch.images, np.float32)
                m = len(images)
                if names is None:
                    names = list(batch.params)
                    check_channels(images.shape, set_bands(plain), path)
                    _create(f, images.shape[1:], names, chunk_rows)
                else:
                    _check_same_params(names, batch)
                    if images.shape[1:] != f["images"].shape[1:]:
                        raise DataError(f"batch images {images.shape[1:]} differ from the first "
                                        f"batch {f['images'].shape[1:]}")
                if m == 0:
                    continue
                labels = np.asarray(batch.labels, np.int8)
                columns = {"images": images, "labels": labels,
                           "kinds": np.asarray(batch.kinds, dtype=object),
                           "system_id": np.asarray(batch.system_id, np.int64)}
                columns.update({f"params/{k}": np.asarray(batch.params[k], np.float32)
                                for k in names})
                for key, arr in columns.items():
                    if len(arr) != m:
                        raise DataError(f"batch {key} has {len(arr)} entries for {m} images")
                    ds = f[key]
                    ds.resize(n + m, axis=0)
                    ds[n:n + m] = arr
                labels_all.append(labels)
                n += m
                if bar is not None:
                    bar.update(m)
            if names is None:
                raise DataError(f"{path}: nothing to write (no batches)")
            shape = (n,) + f["images"].shape[1:]
            meta = _make_meta(plain, pixel_scale, seed, shape,
                              np.concatenate(labels_all) if labels_all else np.zeros(0, np.int8))
            for key, value in meta.items():
                if key in _DERIVED:
                    continue
                f.attrs[key] = json.dumps(value) if key in _JSON_ATTRS else value
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        if bar is not None:
            bar.close()
    return path


def _create(f, image_shape: tuple[int, ...], names: Sequence[str], chunk_rows: int) -> None:
    import h5py
    rows = max(1, int(chunk_rows))
    f.create_dataset("images", shape=(0,) + tuple(image_shape), maxshape=(None,) + image_shape,
                     dtype=np.float32, chunks=(rows,) + tuple(image_shape))
    f.create_dataset("labels", shape=(0,), maxshape=(None,), dtype=np.int8, chunks=(1024,))
    f.create_dataset("kinds", shape=(0,), maxshape=(None,), chunks=(1024,),
                     dtype=h5py.string_dtype("utf-8"))
    f.create_dataset("system_id", shape=(0,), maxshape=(None,), dtype=np.int64, chunks=(1024,))
    group = f.create_group("params", track_order=True)
    for name in names:
        group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=np.float32, chunks=(1024,))


# --------------------------------------------------------------------------------------- read

def _open(path: Path):
    import h5py
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file (expected an HDF5 set made by "
                                "`lensfind simulate`)")
    if path.is_dir():
        raise DataError(f"{path} is a folder: expected an HDF5 set made by `lensfind simulate`")
    if not h5py.is_hdf5(path):
        raise DataError(f"{path} is not an HDF5 file: expected a set made by `lensfind simulate`")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise DataError(f"{path}: cannot open HDF5 file ({err})") from None


def _check(path: Path, f) -> None:
    fmt = f.attrs.get("format")
    if fmt != FORMAT:
        raise DataError(f"{path} is not a lensfind set: its 'format' attribute is {fmt!r}, "
                        f"expected {FORMAT!r} (write sets with `lensfind simulate`)")
    version = int(f.attrs.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise DataError(f"{path}: set format version {version} is newer than this lensfind "
                        f"reads ({FORMAT_VERSION}); upgrade lensfind")
    if not bool(f.attrs.get("complete", False)):
        raise DataError(f"{path}: the set is incomplete (its writer stopped early); delete it and "
                        "simulate again")
    missing = [key for key in REQUIRED if key not in f]
    if missing:
        raise DataError(f"{path}: missing dataset(s) {', '.join(missing)} "
                        f"(a lensfind set has {', '.join(REQUIRED)})")
    bands = json.loads(f.attrs.get("bands", "[]"))
    check_channels(f["images"].shape, bands, path)
    n = f["images"].shape[0]
    for key in ("labels", "kinds", "system_id"):
        if f[key].shape[0] != n:
            raise DataError(f"{path}: dataset {key} has {f[key].shape[0]} entries, images has {n}")
    for key, ds in f["params"].items():
        if ds.shape[0] != n:
            raise DataError(f"{path}: dataset params/{key} has {ds.shape[0]} entries, "
                            f"images has {n}")


def check_set(path: str | Path) -> dict[str, Any]:
    """Check that ``path`` is a complete lensfind set without loading images; return its meta."""
    path = Path(path)
    with _open(path) as f:
        _check(path, f)
        return _read_meta(f)


def _read_meta(f) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in f.attrs.items():
        if key in _JSON_ATTRS:
            value = json.loads(value)
        elif isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, bytes):
            value = value.decode("utf-8")
        meta[key] = value
    meta["config"] = json.loads(meta.get("config_json") or "{}")
    return meta


def read_set(path: str | Path) -> DataSet:
    """Read a whole set into memory.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: not HDF5, not a lensfind set, incomplete, or a dataset is missing (the message
            names the file and the missing key).
    """
    path = Path(path)
    with _open(path) as f:
        _check(path, f)
        kinds = f["kinds"].asstr()[()] if len(f["kinds"]) else np.zeros(0, object)
        return DataSet(images=f["images"][()].astype(np.float32, copy=False),
                       labels=f["labels"][()].astype(np.int8, copy=False),
                       params={k: ds[()].astype(np.float32, copy=False)
                               for k, ds in f["params"].items()},
                       kinds=np.asarray(kinds, dtype=str),
                       system_id=f["system_id"][()].astype(np.int64, copy=False),
                       meta=_read_meta(f), path=path)


def read_params(path: str | Path) -> dict[str, np.ndarray]:
    """The parameter arrays of a set, without reading its images (errors as :func:`read_set`)."""
    path = Path(path)
    with _open(path) as f:
        _check(path, f)
        return {k: ds[()].astype(np.float32, copy=False) for k, ds in f["params"].items()}
