"""One experiment file -> one frozen :class:`Experiment`.

An experiment file has the tables ``[experiment]``, ``[simulation]``, ``[model]`` and ``[train]``
(each optional, defaults below), plus an optional ``[small]`` table with the same layout whose
values replace the others when the experiment is run with ``--small`` (``make ... SMALL=1``), so
that a GPU-sized experiment also runs in minutes on a laptop CPU. ``--set train.epochs=2`` style
overrides are applied last.
"""
from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lensfind.config.sweep import SweepConfig
from lensfind.config.train import TrainConfig
from lensfind.config.tune import TuneConfig
from lensfind.sim.config import SimConfig
from lensfind.sim.presets import expand_preset
from lensfind.tasks import TASKS
from lensfind.validation import ConfigError, check_choice, check_range, fail, from_mapping, to_dict
from lensfind.zoo.config import ModelConfig


@dataclasses.dataclass(frozen=True)
class ExperimentInfo:
    """The ``[experiment]`` table.

    Attributes:
        name: short name; the run directory is ``runs/<name>/<run>``.
        task: a name in :data:`lensfind.tasks.TASKS`: ``"classify"`` (lens finding) or
            ``"regress"`` (lens parameters).
        seed: master seed; simulation, folds, initialisation and augmentation derive from it.
        data: path of an HDF5 set made by ``lensfind simulate``; empty means simulate one from
            ``[simulation]`` (cached under ``data/generated/``).
        description: free text copied into reports.
    """

    name: str = "experiment"
    task: str = "classify"
    seed: int = 1234
    data: str = ""
    description: str = ""

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str) or "/" in self.name:
            fail("experiment.name", self.name, "a non-empty name without '/'")
        check_choice("experiment.task", self.task, tuple(TASKS))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            fail("experiment.seed", self.seed, "an integer")
        check_range("experiment.seed", self.seed, 0, 2**32 - 1)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """A whole experiment: what to simulate, which model, how to train and validate it."""

    experiment: ExperimentInfo = ExperimentInfo()
    simulation: SimConfig = SimConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    tune: TuneConfig = TuneConfig()
    sweep: SweepConfig = SweepConfig()

    @property
    def name(self) -> str:
        return self.experiment.name

    @property
    def seed(self) -> int:
        return self.experiment.seed

    def replace(self, **sections: Mapping[str, Any]) -> "Experiment":
        """Copy with some settings changed, e.g. ``exp.replace(train={"epochs": 2})``."""
        return experiment_from_dict(_merge(to_plain(self), sections), source="replace()")


SECTIONS = tuple(f.name for f in dataclasses.fields(Experiment))


def to_plain(exp: Experiment) -> dict[str, Any]:
    """Plain nested dict of an experiment (lists for tuples): what a TOML snapshot holds."""
    return to_dict(exp)


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _parse_override(text: str) -> dict[str, Any]:
    """``"train.epochs=2"`` -> ``{"train": {"epochs": 2}}``; the value is read as TOML."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {text!r} is invalid: expected SECTION.FIELD=VALUE")
    try:
        value = tomllib.loads(f"v = {raw.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw.strip()  # a bare word, e.g. backbone=resnet50
    node: dict[str, Any] = {}
    parts = key.strip().split(".")
    cursor = node
    for part in parts[:-1]:
        cursor = cursor.setdefault(part, {})
    cursor[parts[-1]] = value
    return node


#: settings removed from the simulator: table path -> (names, why). An experiment file that sets
#: one is refused with the reason; a saved run (``retired="drop"``) still loads without them
RETIRED: dict[tuple[str, ...], tuple[tuple[str, ...], str]] = {
    ("simulation", "ring"): (("axis_ratio_scatter", "clump_amplitude", "clumps",
                              "min_axis_ratio"),
                             "the ring non-lens kind is a ring galaxy since issue #17 (knots, "
                             "disc inclination; see lensfind/sim/config.py::RingPriors)"),
}


def _retire(data: dict[str, Any], source: str, drop: bool) -> dict[str, Any]:
    """A copy of ``data`` without the :data:`RETIRED` settings (``drop``), or an error naming
    them."""
    data = copy.deepcopy(data)
    for path, (names, why) in RETIRED.items():
        table: Any = data
        for key in path:
            table = table.get(key) if isinstance(table, dict) else None
        found = sorted(set(names) & set(table)) if isinstance(table, dict) else []
        if found and not drop:
            dotted = ", ".join(".".join(path + (n,)) for n in found)
            raise ConfigError(f"{source}: {dotted}: retired setting(s): {why}")
        for name in found:
            del table[name]
    return data


def experiment_from_dict(data: Mapping[str, Any], *, source: str = "<dict>", small: bool = False,
                         overrides: Sequence[str] = (), retired: str = "refuse") -> Experiment:
    """Validate a parsed experiment table; ``source`` names the file in error messages.
    ``retired``: ``"refuse"`` settings of :data:`RETIRED` with the reason, or ``"drop"`` them
    (for runs saved before they were retired)."""
    check_choice("retired", retired, ("refuse", "drop"))
    data = _retire(dict(data), source, retired == "drop")
    small_table = data.pop("small", {})
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ConfigError(f"{source}: unknown table(s) {', '.join(unknown)}; "
                          f"expected some of {', '.join(SECTIONS + ('small',))}")
    if small:
        data = _merge(data, small_table)
    for text in overrides:
        data = _merge(data, _parse_override(text))
    if "simulation" in data:
        try:
            data["simulation"] = expand_preset(data["simulation"])
        except ValueError as err:
            raise ConfigError(f"{source}: {err}") from None
    try:
        return from_mapping(Experiment, data, "")
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load_experiment(path: str | Path, *, small: bool = False,
                    overrides: Sequence[str] = (), retired: str = "refuse") -> Experiment:
    """Read and validate an experiment file; nothing runs before this succeeds (``retired``
    as in :func:`experiment_from_dict`)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read experiment file ({err.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML ({err})") from None
    return experiment_from_dict(data, source=str(path), small=small, overrides=overrides,
                                retired=retired)
